package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Metrics is one scrape of a node's /metrics: each series ("name" or "name{labels}") and its
// value.
type Metrics map[string]float64

// ScrapeMetrics fetches and parses base/metrics (Prometheus text format).
func ScrapeMetrics(base string) (Metrics, error) {
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(strings.TrimSuffix(base, "/") + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("scrape metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape metrics: status %s", resp.Status)
	}
	return ParseMetrics(body)
}

// ParseMetrics parses the Prometheus text exposition format, ignoring comments and timestamps.
func ParseMetrics(text []byte) (Metrics, error) {
	m := Metrics{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// The series ends at the last space outside the braces.
		end := strings.LastIndexByte(line, '}')
		rest := line
		series := ""
		if end >= 0 {
			series, rest = line[:end+1], strings.TrimSpace(line[end+1:])
		} else {
			i := strings.IndexByte(line, ' ')
			if i < 0 {
				return nil, fmt.Errorf("metrics line %q has no value", line)
			}
			series, rest = line[:i], strings.TrimSpace(line[i+1:])
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return nil, fmt.Errorf("metrics line %q has no value", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		m[series] = v
	}
	return m, sc.Err()
}

// Sum adds up every series of the metric named name, whatever its labels.
func (m Metrics) Sum(name string) float64 {
	var sum float64
	for series, v := range m {
		if metricName(series) == name {
			sum += v
		}
	}
	return sum
}

// Names returns the metric names for which match is true.
func (m Metrics) Names(match func(name string) bool) []string {
	seen := map[string]bool{}
	var out []string
	for series := range m {
		n := metricName(series)
		if !seen[n] && match(n) {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

func metricName(series string) string {
	name, _, _ := strings.Cut(series, "{")
	return name
}

// SumWhere adds up the series of the metric named name whose labels include every
// key="value" pair given as key, value, key, value….
func (m Metrics) SumWhere(name string, labels ...string) float64 {
	var sum float64
	for series, v := range m {
		if metricName(series) != name {
			continue
		}
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			pair := labels[i] + "=" + strconv.Quote(labels[i+1])
			if !strings.Contains(series, "{"+pair) && !strings.Contains(series, ","+pair) {
				ok = false
				break
			}
		}
		if ok {
			sum += v
		}
	}
	return sum
}
