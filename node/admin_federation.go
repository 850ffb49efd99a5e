package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"parley/federation"
)

// Admin operations on federation:
//
//	-> {"op":"federation.invite","ttl":"24h"}
//	<- {"ok":true,"invite":"parley-invite:…"}
//	-> {"op":"federation.join","invite":"parley-invite:…"}
//	<- {"ok":true,"peer":{"id":"12D3KooW…","name":"…","organisation":"…","url":"…","connected":false,"added":"…"}}
//	-> {"op":"federation.list"}
//	<- {"ok":true,"peers":[{…},…]}
//	-> {"op":"federation.remove","peer":"12D3KooW…"}
//	<- {"ok":true}

// joinTimeout bounds redeeming an invite at the inviting node.
const joinTimeout = 30 * time.Second

// AdminPeer is a federated node as the admin socket reports it.
type AdminPeer struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Organisation string    `json:"organisation"`
	URL          string    `json:"url"`
	Connected    bool      `json:"connected"`
	Added        time.Time `json:"added"`
}

func adminPeer(p federation.Peer) AdminPeer {
	return AdminPeer{ID: p.Record.Peer.String(), Name: p.Record.Name, Organisation: p.Record.Org,
		URL: p.Record.URL, Connected: p.Connected, Added: p.Added}
}

func (req AdminRequest) validateFederation() error {
	if req.roomArgs() {
		return errors.New("takes no title, lobby or orgs")
	}
	switch req.Op {
	case OpFederationInvite:
		if req.Invite != "" || req.Peer != "" {
			return errors.New("takes only ttl")
		}
		if req.TTL != "" {
			d, err := time.ParseDuration(req.TTL)
			if err != nil || d <= 0 || d > federation.MaxInviteTTL {
				return fmt.Errorf("ttl %q: want a duration such as 24h, at most %v", req.TTL, federation.MaxInviteTTL)
			}
		}
	case OpFederationJoin:
		if req.Invite == "" || req.TTL != "" || req.Peer != "" {
			return errors.New("takes only an invite")
		}
	case OpFederationRemove:
		if req.Peer == "" || req.TTL != "" || req.Invite != "" {
			return errors.New("takes only a peer")
		}
	}
	return nil
}

func (a *adminServer) federation(req AdminRequest) adminResponse {
	n := a.node
	switch req.Op {
	case OpFederationInvite:
		ttl := federation.DefaultInviteTTL
		if req.TTL != "" {
			ttl, _ = time.ParseDuration(req.TTL) // validated
		}
		inv, err := n.Invite(ttl)
		if err != nil {
			return adminResponse{Error: "make an invite: " + err.Error()}
		}
		return adminResponse{OK: true, Invite: inv}
	case OpFederationJoin:
		ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
		defer cancel()
		p, err := n.JoinFederation(ctx, req.Invite)
		if err != nil {
			return adminResponse{Error: "join: " + err.Error()}
		}
		ap := adminPeer(p)
		a.log.Info("federated by invite", "peer", ap.ID, "name", ap.Name)
		return adminResponse{OK: true, Peer: &ap}
	case OpFederationList:
		peers := n.Peers()
		out := make([]AdminPeer, 0, len(peers))
		for _, p := range peers {
			out = append(out, adminPeer(p))
		}
		return adminResponse{OK: true, Peers: out}
	default: // OpFederationRemove
		if err := n.RemovePeer(req.Peer); err != nil {
			return adminResponse{Error: "remove: " + err.Error()}
		}
		a.log.Info("federation peer removed", "peer", req.Peer)
		return adminResponse{OK: true}
	}
}
