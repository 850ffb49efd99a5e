package federation

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// A node record is what a node says about itself, signed with its node key (kind "node"):
//
//	{"v":1,"peer":"12D3KooW…","name":"Ministère A","org":"Ministère A",
//	 "url":"https://a.example:8443","addrs":["/ip4/192.0.2.1/udp/4001/quic-v1",…],
//	 "cascade":"192.0.2.1:7890","iat_ms":1767225600000}
//
// url and cascade may be empty. Of two records of one node the one with the greater iat_ms
// wins; a node never issues two records with the same iat_ms.

// NodeRecord is a node's signed description of itself.
type NodeRecord struct {
	Peer    peer.ID
	Name    string
	Org     string
	URL     string   // the node's HTTP(S) base URL; empty if it serves none
	Addrs   []string // libp2p addresses
	Cascade string   // the cascade's host:port; empty if none
	Issued  time.Time
}

type nodeBody struct {
	V        int      `json:"v"`
	Peer     peer.ID  `json:"peer"`
	Name     string   `json:"name"`
	Org      string   `json:"org"`
	URL      string   `json:"url"`
	Addrs    []string `json:"addrs"`
	Cascade  string   `json:"cascade"`
	IssuedMS int64    `json:"iat_ms"`
}

func (b nodeBody) record() NodeRecord {
	return NodeRecord{
		Peer: b.Peer, Name: b.Name, Org: b.Org, URL: b.URL, Addrs: b.Addrs, Cascade: b.Cascade,
		Issued: time.UnixMilli(b.IssuedMS),
	}
}

func (b nodeBody) validate() error {
	if b.V != wireVersion {
		return errVersion
	}
	if err := text("name", b.Name, MaxNameLen, false); err != nil {
		return err
	}
	if err := text("organisation", b.Org, MaxOrgLen, false); err != nil {
		return err
	}
	if err := httpURL("url", b.URL, true); err != nil {
		return err
	}
	if err := addrList(b.Addrs); err != nil {
		return err
	}
	if b.Cascade != "" {
		if err := token("cascade address", b.Cascade, maxAddrLen); err != nil {
			return err
		}
	}
	return millis("iat_ms", b.IssuedMS)
}

func decodeNodeRecord(data []byte, b *nodeBody) error {
	if err := decodeStrict(data, b); err != nil {
		return fmt.Errorf("node record: %w", err)
	}
	if err := b.validate(); err != nil {
		return fmt.Errorf("node record of %s: %w", b.Peer, err)
	}
	return nil
}
