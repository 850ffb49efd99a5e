package media

import (
	"strings"
	"testing"

	"parley/media/cascade"
)

func TestLayerPlan(t *testing.T) {
	all := cascade.AllLayers
	l := cascade.Layers
	type step struct {
		want           int
		offered        cascade.LayerSet
		silent         cascade.LayerSet
		keyed          bool
		layers         cascade.LayerSet
		serve          uint8
		primaryChanged bool
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"single layer publisher", []step{
			{want: 2, offered: l(0), layers: l(0), serve: 1, primaryChanged: true},
			{want: 2, offered: l(0), layers: l(0), serve: 1},
		}},
		{"highest wanted", []step{
			{want: 2, offered: all, layers: l(2), serve: 4, primaryChanged: true},
			{want: 1, offered: all, layers: l(1, 2), serve: 2, primaryChanged: true}, // down: serve 1 only
			{want: 1, offered: all, layers: l(1, 2), serve: 2},                       // no keyframe yet
			{want: 1, offered: all, keyed: true, layers: l(1), serve: 2},
		}},
		{"up keeps the lower until the keyframe", []step{
			{want: 0, offered: all, layers: l(0), serve: 1, primaryChanged: true},
			{want: 2, offered: all, layers: l(0, 2), serve: 5, primaryChanged: true},
			{want: 2, offered: all, keyed: true, layers: l(2), serve: 4},
		}},
		{"back before the keyframe", []step{
			{want: 0, offered: all, layers: l(0), serve: 1, primaryChanged: true},
			{want: 2, offered: all, layers: l(0, 2), serve: 5, primaryChanged: true},
			{want: 0, offered: all, layers: l(0), serve: 1, primaryChanged: true},
		}},
		{"a new target while switching keeps what subscribers are on", []step{
			{want: 0, offered: all, layers: l(0), serve: 1, primaryChanged: true},
			{want: 2, offered: all, layers: l(0, 2), serve: 5, primaryChanged: true},
			{want: 1, offered: all, layers: l(0, 1), serve: 3, primaryChanged: true},
		}},
		{"silent layer avoided", []step{
			{want: 2, offered: all, layers: l(2), serve: 4, primaryChanged: true},
			{want: 2, offered: all, silent: l(2), layers: l(1), serve: 2, primaryChanged: true}, // nothing to keep
			{want: 2, offered: all, silent: l(2), layers: l(1), serve: 2},
		}},
		{"everything silent stays", []step{
			{want: 2, offered: all, layers: l(2), serve: 4, primaryChanged: true},
			{want: 2, offered: all, silent: all, layers: l(2), serve: 4},
		}},
		{"wanted layer not offered", []step{
			{want: 2, offered: l(0, 1), layers: l(1), serve: 2, primaryChanged: true},
			{want: 0, offered: l(1), layers: l(1), serve: 2},
		}},
	}
	for _, c := range cases {
		p := newLayerPlan()
		for i, s := range c.steps {
			layers, changed := p.next(s.want, s.offered, s.silent, s.keyed)
			if layers != s.layers || p.serve() != s.serve || changed != s.primaryChanged {
				t.Errorf("%s, step %d: layers %s serve %03b changed %v, want %s %03b %v", c.name, i,
					layers, p.serve(), changed, s.layers, s.serve, s.primaryChanged)
			}
		}
	}
}

func TestCapacityStep(t *testing.T) {
	for _, c := range []struct {
		sum, capacity float64
		want          int
	}{{3e6, 2e6, -1}, {1.5e6, 2e6, 0}, {0.5e6, 2e6, 1}, {1e6, 0, 0}} {
		if got := capacityStep(c.sum, c.capacity); got != c.want {
			t.Errorf("capacityStep(%v, %v) = %d, want %d", c.sum, c.capacity, got, c.want)
		}
	}
}

func TestValidRemote(t *testing.T) {
	good := PublishedTrack{ID: "t1", Participant: "p", Kind: "video", Source: "camera", Layers: 7}
	if err := validRemote(good); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []func(*PublishedTrack){
		func(p *PublishedTrack) { p.ID = "" },
		func(p *PublishedTrack) { p.ID = strings.Repeat("x", 65) },
		func(p *PublishedTrack) { p.Participant = "a b" },
		func(p *PublishedTrack) { p.Kind = "data" },
		func(p *PublishedTrack) { p.Source = "desk" },
		func(p *PublishedTrack) { p.Layers = 8 },
		func(p *PublishedTrack) { p.AudioLevelID = 15 },
	} {
		p := good
		bad(&p)
		if validRemote(p) == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

func TestOfferedLayers(t *testing.T) {
	for _, c := range []struct {
		rids []string
		want uint8
	}{{nil, 1}, {[]string{"q", "h", "f"}, 7}, {[]string{"f"}, 4}, {[]string{"a", "b"}, 3}, {[]string{"f", "x"}, 5}} {
		if got := offeredLayers(c.rids); got != c.want {
			t.Errorf("offeredLayers(%v) = %03b, want %03b", c.rids, got, c.want)
		}
	}
}
