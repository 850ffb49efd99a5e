package bench

import "testing"

func TestMetricsSumWhere(t *testing.T) {
	m, err := ParseMetrics([]byte(`# HELP x
parley_cascade_datagrams_total{peer="a",peer_name="A",direction="in"} 5
parley_cascade_datagrams_total{peer="a",peer_name="A",direction="out"} 7
parley_cascade_datagrams_total{peer="b",peer_name="B",direction="out"} 11
parley_cascade_bytes_total{peer="a",peer_name="A",direction="out"} 100
parley_other{redirection="out"} 3
parley_other{direction="out"} 4
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"parley_cascade_datagrams_total", nil, 23},
		{"parley_cascade_datagrams_total", []string{"direction", "out"}, 18},
		{"parley_cascade_datagrams_total", []string{"direction", "out", "peer", "a"}, 7},
		{"parley_cascade_datagrams_total", []string{"peer", "c"}, 0},
		{"parley_other", []string{"direction", "out"}, 4},
	} {
		if got := m.SumWhere(c.name, c.labels...); got != c.want {
			t.Errorf("SumWhere(%s, %q) = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}
