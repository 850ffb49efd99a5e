package cascade

import (
	"strconv"
	"strings"
)

// MaxLayers is the number of simulcast layers a track may have. Layer 0 is the lowest ("q"),
// 1 the middle ("h"), 2 the highest ("f"); a track without simulcast sends layer 0 only.
const MaxLayers = 3

// LayerSet is a set of simulcast layers: bit i set means layer i.
type LayerSet uint8

// AllLayers holds every layer.
const AllLayers LayerSet = 1<<MaxLayers - 1

// Layers returns the set holding the given layers; layers out of range are ignored.
func Layers(layers ...int) LayerSet {
	var s LayerSet
	for _, l := range layers {
		if l >= 0 && l < MaxLayers {
			s |= 1 << l
		}
	}
	return s
}

// Has reports whether layer is in s.
func (s LayerSet) Has(layer int) bool { return layer >= 0 && layer < MaxLayers && s&(1<<layer) != 0 }

// Highest is the highest layer in s, or -1 if s is empty.
func (s LayerSet) Highest() int {
	for l := MaxLayers - 1; l >= 0; l-- {
		if s.Has(l) {
			return l
		}
	}
	return -1
}

// valid reports whether s names only existing layers.
func (s LayerSet) valid() bool { return s&^AllLayers == 0 }

// String lists the layers, e.g. "0,2"; "-" for none.
func (s LayerSet) String() string {
	var parts []string
	for l := range MaxLayers {
		if s.Has(l) {
			parts = append(parts, strconv.Itoa(l))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// Kind is a track's media kind.
type Kind uint8

// Track kinds. Only video tracks are repaired by NACK and asked for keyframes.
const (
	KindAudio Kind = 1
	KindVideo Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindAudio:
		return "audio"
	case KindVideo:
		return "video"
	}
	return "kind" + strconv.Itoa(int(k))
}

// TrackInfo describes a track, as the publishing node's SFU knows it. The upstream node sends
// it with its answer to a subscribe, so that the downstream SFU can set up its forwarding.
type TrackInfo struct {
	Kind      Kind
	MimeType  string   // e.g. "video/VP8", "audio/opus"; 1 to 64 printable ASCII bytes
	ClockRate uint32   // RTP clock rate
	Channels  uint8    // audio channels, 0 for video
	Layers    LayerSet // the simulcast layers the publisher sends, when the answer was made
}

// Video reports whether the track is video.
func (i TrackInfo) Video() bool { return i.Kind == KindVideo }

// trackKey names a track on a link: its room and its id in that room.
type trackKey struct{ room, track string }
