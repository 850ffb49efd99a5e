package testnet

import (
	"fmt"

	"parley/media/client"
	"parley/media/signal"
	"parley/testnet/bench"
)

// FindTrack returns what c receives of participant's source (signal.SourceMic, SourceCamera,
// SourceScreen), and whether the node forwards such a track to c.
func FindTrack(c *client.Client, participant, source string) (client.TrackStats, bool) {
	return bench.FindTrack(c, participant, source)
}

// ParticipantNames returns the display names of the others c sees in the room, sorted by id.
func ParticipantNames(c *client.Client) []string {
	var names []string
	for _, p := range c.Participants() {
		names = append(names, p.Name)
	}
	return names
}

// ParticipantID returns the id of the participant c sees with the display name name.
func ParticipantID(c *client.Client, name string) (string, bool) {
	for _, p := range c.Participants() {
		if p.Name == name {
			return p.ID, true
		}
	}
	return "", false
}

// HasChat reports whether c has seen a chat message with this sender name and text.
func HasChat(c *client.Client, name, text string) bool {
	for _, m := range c.Chat() {
		if m.Name == name && m.Text == text {
			return true
		}
	}
	return false
}

// DescribeTracks is a one-line summary of what c receives, for failure messages.
func DescribeTracks(c *client.Client) string { return bench.DescribeTracks(c) }

// receivingFrom returns nil when c receives both audio and camera video from participant,
// with packets counted and, for video, a keyframe seen.
func receivingFrom(c *client.Client, participant string) error {
	audio, ok := FindTrack(c, participant, signal.SourceMic)
	if !ok || audio.Packets == 0 {
		return fmt.Errorf("no audio from %s yet (%s)", participant, DescribeTracks(c))
	}
	video, ok := FindTrack(c, participant, signal.SourceCamera)
	if !ok || video.Packets == 0 || video.Keyframes == 0 {
		return fmt.Errorf("no video keyframe from %s yet (%s)", participant, DescribeTracks(c))
	}
	if audio.Kind != client.KindAudio || video.Kind != client.KindVideo {
		return fmt.Errorf("tracks from %s have kinds %q and %q", participant, audio.Kind, video.Kind)
	}
	return nil
}
