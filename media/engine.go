package media

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/logging"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Payload types and header extensions the SFU negotiates. Both sides of every connection use
// the same media engine, so a subscriber receives the payload types a publisher sent.
const (
	ptOpus = 111
	ptVP8  = 96

	audioLevelURI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

	clockVideo = 90000
	clockAudio = 48000
)

// newMediaEngine registers Opus and VP8 with the feedback and header extensions browsers use
// for simulcast, loss repair and bandwidth estimation.
func newMediaEngine() (*webrtc.MediaEngine, error) {
	m := &webrtc.MediaEngine{}
	opus := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: clockAudio, Channels: 2,
			SDPFmtpLine:  "minptime=10;useinbandfec=1",
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}},
		},
		PayloadType: ptOpus,
	}
	if err := m.RegisterCodec(opus, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("register opus: %w", err)
	}
	vp8 := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP8, ClockRate: clockVideo,
			RTCPFeedback: []webrtc.RTCPFeedback{
				{Type: webrtc.TypeRTCPFBNACK},
				{Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"},
				{Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"},
				{Type: webrtc.TypeRTCPFBGoogREMB},
				{Type: webrtc.TypeRTCPFBTransportCC},
			},
		},
		PayloadType: ptVP8,
	}
	if err := m.RegisterCodec(vp8, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("register vp8: %w", err)
	}
	exts := []struct {
		uri  string
		kind webrtc.RTPCodecType
	}{
		{audioLevelURI, webrtc.RTPCodecTypeAudio},
		{sdp.SDESMidURI, webrtc.RTPCodecTypeAudio},
		{sdp.TransportCCURI, webrtc.RTPCodecTypeAudio},
		{sdp.SDESMidURI, webrtc.RTPCodecTypeVideo},
		{sdp.SDESRTPStreamIDURI, webrtc.RTPCodecTypeVideo},
		{sdp.SDESRepairRTPStreamIDURI, webrtc.RTPCodecTypeVideo},
		{sdp.TransportCCURI, webrtc.RTPCodecTypeVideo},
	}
	for _, e := range exts {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: e.uri}, e.kind); err != nil {
			return nil, fmt.Errorf("register header extension %s: %w", e.uri, err)
		}
	}
	return m, nil
}

// newInterceptors builds the interceptors every peer connection gets. They act only on
// received streams (NACK generation, receiver reports, transport-wide congestion control
// feedback), so a subscriber connection, which only sends, pays nothing per packet for them:
// sender reports, retransmissions and keyframe relaying are the SFU's own code.
func newInterceptors(lf logging.LoggerFactory) (*interceptor.Registry, error) {
	ir := &interceptor.Registry{}
	gen, err := nack.NewGeneratorInterceptor(nack.WithGeneratorLoggerFactory(lf))
	if err != nil {
		return nil, fmt.Errorf("nack generator: %w", err)
	}
	rr, err := report.NewReceiverInterceptor(report.WithReceiverLoggerFactory(lf))
	if err != nil {
		return nil, fmt.Errorf("receiver reports: %w", err)
	}
	tw, err := twcc.NewSenderInterceptor(twcc.WithLoggerFactory(lf))
	if err != nil {
		return nil, fmt.Errorf("twcc feedback: %w", err)
	}
	ir.Add(gen)
	ir.Add(rr)
	ir.Add(tw)
	return ir, nil
}

// newAPI builds the one webrtc.API shared by every peer connection of the SFU.
func newAPI(cfg Config, log *slog.Logger) (*webrtc.API, ice.UDPMux, ice.TCPMux, error) {
	lf := &pionLoggerFactory{log: log}
	me, err := newMediaEngine()
	if err != nil {
		return nil, nil, nil, err
	}
	ir, err := newInterceptors(lf)
	if err != nil {
		return nil, nil, nil, err
	}
	se := webrtc.SettingEngine{LoggerFactory: lf}
	if len(cfg.PublicIPs) > 0 {
		for _, ip := range cfg.PublicIPs {
			if net.ParseIP(ip) == nil {
				return nil, nil, nil, fmt.Errorf("public ip %q is not an IP address", ip)
			}
		}
		err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        cfg.PublicIPs,
			AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode:            webrtc.ICEAddressRewriteReplace,
		})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("public ips %v: %w", cfg.PublicIPs, err)
		}
	}
	udpMux := webrtc.NewICEUDPMux(lf.NewLogger("udpmux"), cfg.UDP)
	se.SetICEUDPMux(udpMux)
	var tcpMux ice.TCPMux
	nets := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if cfg.TCP != nil {
		tcpMux = webrtc.NewICETCPMux(lf.NewLogger("tcpmux"), cfg.TCP, 32)
		se.SetICETCPMux(tcpMux)
		nets = append(nets, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	se.SetNetworkTypes(nets)
	se.SetIncludeLoopbackCandidate(isLoopback(cfg.UDP.LocalAddr()))
	// No mDNS: it would open a multicast socket per connection. A browser's .local host
	// candidates still connect, as peer-reflexive candidates learnt from its checks.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// AES-GCM first: one pass for encryption and authentication is cheaper per packet than
	// AES-CM followed by HMAC-SHA1.
	se.SetSRTPProtectionProfiles(
		dtls.SRTP_AEAD_AES_128_GCM,
		dtls.SRTP_AEAD_AES_256_GCM,
		dtls.SRTP_AES128_CM_HMAC_SHA1_80,
	)
	api := webrtc.NewAPI(
		webrtc.WithMediaEngine(me),
		webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(se),
	)
	return api, udpMux, tcpMux, nil
}

func isLoopback(a net.Addr) bool {
	if u, ok := a.(*net.UDPAddr); ok {
		return u.IP.IsLoopback()
	}
	return false
}

// pionLoggerFactory routes pion's logs to slog: pion's errors and warnings become slog
// warnings, its info becomes debug, its debug and trace are dropped.
type pionLoggerFactory struct{ log *slog.Logger }

func (f *pionLoggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return &pionLogger{log: f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l *pionLogger) Trace(string)          {}
func (l *pionLogger) Tracef(string, ...any) {}
func (l *pionLogger) Debug(string)          {}
func (l *pionLogger) Debugf(string, ...any) {}
func (l *pionLogger) Info(msg string)       { l.log.Debug(msg) }
func (l *pionLogger) Infof(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(format, args...))
	}
}
func (l *pionLogger) Warn(msg string) { l.log.Debug(msg) }
func (l *pionLogger) Warnf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(format, args...))
	}
}
func (l *pionLogger) Error(msg string)                  { l.log.Warn(msg) }
func (l *pionLogger) Errorf(format string, args ...any) { l.log.Warn(fmt.Sprintf(format, args...)) }
