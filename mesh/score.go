package mesh

import (
	"math"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Peer scoring for a small permissioned set.
//
// Every peer gossipsub sees has passed the gater, so scoring is not there to tell strangers
// from friends; it is there so that one faulty or compromised node cannot degrade the topics
// for the others, and so that honest nodes are never punished for what a quiet, small
// federation looks like. The choices:
//
//   - P5, application score: 0 for admitted peers, -1e6 for anyone else. Nobody else should
//     reach gossipsub at all; if one did (a connection racing Untrust), it is below every
//     threshold at once and ignored.
//   - P6, IP colocation: off (weight 0). Islands sit behind one NAT and test networks share
//     127.0.0.1; many trusted nodes on one address is normal here, and Sybils are impossible
//     because only trusted keys connect.
//   - P3/P3b, mesh delivery deficits: off. A room with two people chatting slowly is
//     indistinguishable from a peer withholding messages; penalising deficits would prune
//     honest peers from quiet topics.
//   - P4, invalid messages: weight -100 per message squared, decaying with a half-life of
//     about two minutes. One invalid message (over the size cap, or rejected by a topic
//     validator) costs -100, which is harmless; three in a row (-900) put the peer below the
//     gossip threshold, four (-1600) below publish, six (-3600) into the graylist, where its
//     traffic is ignored until the penalty decays. A bug in one version sending a few bad
//     messages therefore costs little; a stream of forgeries is shut out within seconds.
//   - P7, behaviour: weight -10 above a threshold of 6 (GRAFT during backoff, broken IHAVE
//     promises), decaying with a half-life of about a minute. A misbehaving router reaches the
//     gossip threshold after about 13 violations over the threshold.
//   - P1, time in mesh, and P2, first deliveries: small positive rewards (at most +3 and +5 per
//     topic, capped at +10 overall), so that mesh selection prefers long-lived, useful peers
//     without letting any peer bank enough credit to cover for misbehaviour later.
//   - Scores survive a disconnection for 10 minutes (RetainScore), so reconnecting does not
//     wash a penalty away.
//
// Thresholds: gossip -500, publish -1000, graylist -2500. Peer exchange is off, so the PX
// threshold only needs to be out of reach (1000). Opportunistic grafting starts when the
// median mesh score drops below 1, i.e. when the mesh is young or delivering nothing.

// notAdmittedScore is the application score of a peer that is not admitted.
const notAdmittedScore = -1e6

func peerScoreParams(adm *admission) *pubsub.PeerScoreParams {
	return &pubsub.PeerScoreParams{
		Topics:        make(map[string]*pubsub.TopicScoreParams),
		TopicScoreCap: 10,
		AppSpecificScore: func(p peer.ID) float64 {
			if adm.admitted(p) {
				return 0
			}
			return notAdmittedScore
		},
		AppSpecificWeight:           1,
		IPColocationFactorWeight:    0,
		IPColocationFactorThreshold: 1,
		BehaviourPenaltyWeight:      -10,
		BehaviourPenaltyThreshold:   6,
		BehaviourPenaltyDecay:       decayPerSecond(time.Minute),
		DecayInterval:               time.Second,
		DecayToZero:                 0.01,
		RetainScore:                 10 * time.Minute,
	}
}

func peerScoreThresholds() *pubsub.PeerScoreThresholds {
	return &pubsub.PeerScoreThresholds{
		GossipThreshold:             -500,
		PublishThreshold:            -1000,
		GraylistThreshold:           -2500,
		AcceptPXThreshold:           1000,
		OpportunisticGraftThreshold: 1,
	}
}

// topicScoreParams are the same for every topic: the federation topic and room topics differ
// in traffic, not in how much a bad message should cost.
func topicScoreParams() *pubsub.TopicScoreParams {
	return &pubsub.TopicScoreParams{
		SkipAtomicValidation: true, // P3 and P3b stay at zero: off
		TopicWeight:          1,

		TimeInMeshWeight:  0.01,
		TimeInMeshQuantum: time.Second,
		TimeInMeshCap:     300, // +3 after five minutes in the mesh

		FirstMessageDeliveriesWeight: 1,
		FirstMessageDeliveriesDecay:  decayPerSecond(time.Minute),
		FirstMessageDeliveriesCap:    5,

		InvalidMessageDeliveriesWeight: -100,
		InvalidMessageDeliveriesDecay:  decayPerSecond(2 * time.Minute),
	}
}

// decayPerSecond is the per-second decay factor that halves a counter over halfLife.
func decayPerSecond(halfLife time.Duration) float64 {
	return math.Pow(0.5, float64(time.Second)/float64(halfLife))
}
