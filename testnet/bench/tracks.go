package bench

import (
	"fmt"
	"strings"

	"parley/media/client"
)

// FindTrack returns what c receives of participant's source (signal.SourceMic, SourceCamera,
// SourceScreen), and whether the node forwards such a track to c.
func FindTrack(c *client.Client, participant, source string) (client.TrackStats, bool) {
	for _, tr := range c.Tracks() {
		if tr.Participant == participant && tr.Source == source {
			return tr, true
		}
	}
	return client.TrackStats{}, false
}

// DescribeTracks is a one-line summary of what c receives, for failure messages.
func DescribeTracks(c *client.Client) string {
	var parts []string
	for _, tr := range c.Tracks() {
		parts = append(parts, fmt.Sprintf("%s/%s/%s pkts=%d kf=%d %dx%d", tr.Participant, tr.Source, tr.Kind,
			tr.Packets, tr.Keyframes, tr.Width, tr.Height))
	}
	if len(parts) == 0 {
		return "no tracks"
	}
	return strings.Join(parts, "; ")
}
