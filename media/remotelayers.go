package media

import "parley/media/cascade"

// The SFU's and the cascade's simulcast layers are the same three.
var _ [maxLayers - cascade.MaxLayers]struct{}
var _ [cascade.MaxLayers - maxLayers]struct{}

// layerPlan chooses which simulcast layers of another node's video track this node subscribes
// to. One layer serves every local subscriber (the highest any of them needs, within what the
// link carries), so one copy crosses the link. When the choice changes, the layer being left
// stays subscribed until the new one has sent a keyframe, so that subscribers switch without
// a gap. It is pure: the remote loop feeds it what it measured.
type layerPlan struct {
	primary int // the layer subscribers are served from; -1 before the first choice
	leaving int // the layer served before primary, kept until primary sends a keyframe; -1 if none
}

func newLayerPlan() layerPlan { return layerPlan{primary: -1, leaving: -1} }

// next updates the plan. want is the highest layer any local subscriber needs, already capped
// for the link's capacity; offered the layers the publisher sends; silent the layers that
// delivered nothing for a while although subscribed (not chosen while another is usable);
// keyed whether primary has sent a keyframe since it became primary. It returns the layers
// to subscribe to and whether primary changed.
func (p *layerPlan) next(want int, offered, silent cascade.LayerSet, keyed bool) (cascade.LayerSet, bool) {
	offered &= cascade.AllLayers
	if offered == 0 {
		offered = cascade.Layers(0)
	}
	usable := offered &^ silent
	if usable == 0 {
		usable = offered // nothing flows (a camera turned off): keep to what is offered
	}
	target := selectLayer(want, uint8(usable))
	changed := false
	switch {
	case p.primary < 0:
		p.primary, p.leaving = target, -1
		changed = true
	case target == p.primary:
		if keyed || silent.Has(p.leaving) {
			p.leaving = -1
		}
	case target == p.leaving:
		// Back to the layer subscribers are still on.
		p.primary, p.leaving = target, -1
		changed = true
	default:
		if p.leaving < 0 && !silent.Has(p.primary) {
			p.leaving = p.primary // subscribers are on it until target sends a keyframe
		}
		p.primary = target
		changed = true
	}
	return p.layers(), changed
}

// layers is the set to subscribe to.
func (p *layerPlan) layers() cascade.LayerSet {
	s := cascade.Layers(p.primary)
	if p.leaving >= 0 {
		s |= cascade.Layers(p.leaving)
	}
	return s
}

// serve is the mask of layers subscribers may be forwarded from: the subscribed ones up to
// primary. While moving up, subscribers stay on the lower layer until the higher one arrives
// with a keyframe; while moving down, they switch at the lower layer's first keyframe.
func (p *layerPlan) serve() uint8 {
	if p.primary < 0 {
		return 1
	}
	return uint8(p.layers()) & (1<<(p.primary+1) - 1)
}

// capacityStep says how to change the layer caps of a link's video subscriptions: sum is the
// bitrate of everything subscribed on the link, capacity the link's estimate (bits/s). It
// returns -1 (lower the biggest subscription one layer), +1 (raise one), or 0.
func capacityStep(sum, capacity float64) int {
	switch {
	case capacity <= 0:
		return 0
	case sum > capacity:
		return -1
	case sum < capacity/2:
		return 1
	}
	return 0
}
