package testnet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"parley/federation"
	"parley/identity"
	"parley/media/client"
	"parley/media/signal"
)

// Federation of in-process nodes (NewEnv): a room's participants and chat converge across
// ten nodes, through a 5|5 partition and its healing, and across a node's restart; a node
// outside the federation learns nothing, and a removed one is ignored.

const (
	fedSeeWait  = 20 * time.Second // participants and chat crossing the federation
	fedHealWait = 30 * time.Second // catch-up after a partition or a restart
)

// member is a Go participant of a federation test. Besides its client, it records every chat
// message its home node sent it (the join history, then each live one) as the node sent it:
// with the sender's home node and sequence, which the client's own chat view does not keep.
type member struct {
	name string
	home int // index of its node in the Env
	c    *client.Client

	mu     sync.Mutex
	chatIn []signal.ChatMessage // guarded by mu
}

// joinMember connects a participant named name to room through node home.
func joinMember(t *testing.T, e *Env, home int, room, name string) *member {
	t.Helper()
	m := &member{name: name, home: home}
	m.c = e.Nodes[home].JoinWith(t, client.Config{
		Room: room, Name: name, OnMessage: m.record,
		// Ten nodes on two cores, some under the race detector: give a new key more time to
		// reach every participant before its first use than a meeting on one node needs.
		KeySchedule: identity.ScheduleConfig{SwitchDelay: time.Second},
	})
	return m
}

func (m *member) record(msg *signal.Message) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case msg.Type == signal.TypeJoined:
		m.chatIn = append(m.chatIn, msg.History...)
	case msg.Type == signal.TypeChat && msg.Chat != nil:
		m.chatIn = append(m.chatIn, *msg.Chat)
	}
}

// received is every chat message the member's node sent it, in the order it came.
func (m *member) received() []signal.ChatMessage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.chatIn)
}

// chatID names a chat message in a room: its sender's home node and its sequence there.
type chatID struct {
	node string
	seq  uint64
}

func (id chatID) String() string { return fmt.Sprintf("%s/%d", shortPeer(id.node), id.seq) }

func shortPeer(id string) string { return id[max(0, len(id)-6):] }

// logOrder sorts chat as the nodes order their logs: by time, then node, then sequence.
func logOrder(msgs []signal.ChatMessage) []chatID {
	s := slices.Clone(msgs)
	slices.SortStableFunc(s, func(a, b signal.ChatMessage) int {
		return cmp.Or(cmp.Compare(a.Time, b.Time), cmp.Compare(a.Node, b.Node), cmp.Compare(a.Seq, b.Seq))
	})
	out := make([]chatID, len(s))
	for i, m := range s {
		out[i] = chatID{m.Node, m.Seq}
	}
	return out
}

// duplicates lists the chat messages received more than once.
func duplicates(msgs []signal.ChatMessage) []chatID {
	seen := map[chatID]int{}
	var dup []chatID
	for _, m := range msgs {
		id := chatID{m.Node, m.Seq}
		if seen[id]++; seen[id] == 2 {
			dup = append(dup, id)
		}
	}
	return dup
}

// nodeChat is node i's chat log of room in its display order: the "chat" entries of its
// room log.
func nodeChat(t *testing.T, e *Env, i int, room string) []chatID {
	t.Helper()
	entries, err := e.Nodes[i].Node.Federation().History(room, 0)
	if err != nil {
		t.Fatalf("history of %s: %v", e.Nodes[i].Name, err)
	}
	var out []chatID
	for _, en := range entries {
		if en.Kind == "chat" {
			out = append(out, chatID{en.Node.String(), en.Seq})
		}
	}
	return out
}

// texts are the decrypted chat texts a member's client holds, in the order it got them.
func texts(c *client.Client) []string {
	var out []string
	for _, m := range c.Chat() {
		if m.Err == nil {
			out = append(out, m.Text)
		}
	}
	return out
}

// unreadable describes the chat messages c could not decrypt.
func unreadable(c *client.Client) []string {
	var out []string
	for _, m := range c.Chat() {
		if m.Err != nil {
			out = append(out, fmt.Sprintf("%s #%d: %v", m.Name, m.Seq, m.Err))
		}
	}
	return out
}

// missing returns the texts of want the member's client has not decrypted, and an error
// naming any it holds more than once.
func missing(c *client.Client, want []string) ([]string, error) {
	count := map[string]int{}
	for _, s := range texts(c) {
		count[s]++
	}
	var miss []string
	for _, w := range want {
		switch count[w] {
		case 0:
			miss = append(miss, w)
		case 1:
		default:
			return nil, fmt.Errorf("%q %d times", w, count[w])
		}
	}
	return miss, nil
}

// waitTexts waits until every member has decrypted each of want exactly once.
func waitTexts(t *testing.T, members []*member, want []string, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, "chat reaching every participant", func() error {
		for _, m := range members {
			miss, err := missing(m.c, want)
			if err != nil {
				return fmt.Errorf("%s got %v", m.name, err)
			}
			if len(miss) > 0 {
				return fmt.Errorf("%s (on node %d) lacks %d of %d, e.g. %q; it could not read %v", m.name, m.home+1,
					len(miss), len(want), miss[0], unreadable(m.c))
			}
		}
		return nil
	})
}

// waitSees waits until every member sees every other one (and nobody else).
func waitSees(t *testing.T, e *Env, members []*member, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, "every participant seeing every other", func() error {
		for _, m := range members {
			got := map[string]string{}
			for _, p := range m.c.Participants() {
				got[p.Name] = p.Org
			}
			for _, o := range members {
				if o == m {
					continue
				}
				// A participant's org is its home node's name (identity/doc.go).
				if org, ok := got[o.name]; !ok || org != e.Nodes[o.home].Name {
					return fmt.Errorf("%s sees %v, not %s of %s", m.name, got, o.name, e.Nodes[o.home].Name)
				}
			}
			if len(got) != len(members)-1 {
				return fmt.Errorf("%s sees %d participants %v, want %d", m.name, len(got), got, len(members)-1)
			}
		}
		return nil
	})
}

// sendAll makes each sender send perSender texts, the senders at the same time, and returns
// every text sent.
func sendAll(senders []*member, perSender int, tag string) ([]string, error) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		sent []string
		errs []error
	)
	for _, m := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range perSender {
				text := fmt.Sprintf("%s %s #%d", m.name, tag, k+1)
				err := m.c.SendChat(text)
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("%s sends chat: %w", m.name, err))
				} else {
					sent = append(sent, text)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return sent, errors.Join(errs...)
}

// mustSend is sendAll, failing the test on error.
func mustSend(t *testing.T, senders []*member, perSender int, tag string) []string {
	t.Helper()
	sent, err := sendAll(senders, perSender, tag)
	if err != nil {
		t.Fatal(err)
	}
	return sent
}

// waitReadable makes sender send probe messages until every reader decrypts one. A newcomer
// reads only what is sent under a key it was given: the others' clients switch to one a
// moment after they see it join (the key schedule's debounce and switch delay), and what
// they send before that shows to it as sent before it joined.
func waitReadable(t *testing.T, sender *member, readers []*member) {
	t.Helper()
	const probeWait = 2 * time.Second
	deadline := time.Now().Add(fedSeeWait)
	for k := 1; ; k++ {
		text := fmt.Sprintf("%s probe #%d", sender.name, k)
		if err := sender.c.SendChat(text); err != nil {
			t.Fatalf("%s sends a probe: %v", sender.name, err)
		}
		err := Poll(probeWait, func() error {
			for _, r := range readers {
				if !HasChat(r.c, sender.name, text) {
					return fmt.Errorf("%s cannot read %q", r.name, text)
				}
			}
			return nil
		})
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d probes: %v", k, err)
		}
	}
}

// checkOneLog checks that every node holds the same chat log, and that every member got each
// message of it exactly once (late members in their join history); the log and the order
// the members' messages sort into by (time, node, seq) agree. It returns the log.
func checkOneLog(t *testing.T, e *Env, room string, members []*member) []chatID {
	t.Helper()
	var log []chatID
	Eventually(t, fedHealWait, "one chat log on every node", func() error {
		log = nodeChat(t, e, 0, room)
		for i := 1; i < len(e.Nodes); i++ {
			if other := nodeChat(t, e, i, room); !slices.Equal(other, log) {
				return fmt.Errorf("%s holds %d messages %v, %s holds %d %v", e.Nodes[0].Name, len(log), log,
					e.Nodes[i].Name, len(other), other)
			}
		}
		for _, m := range members {
			got := m.received()
			if dup := duplicates(got); len(dup) > 0 {
				return fmt.Errorf("%s got %v more than once", m.name, dup)
			}
			if order := logOrder(got); !slices.Equal(order, log) {
				return fmt.Errorf("%s got %d messages %v, the log has %d %v", m.name, len(order), order, len(log), log)
			}
		}
		return nil
	})
	return log
}

// TestTenNodesConverge: ten federated nodes, a room created on node 1 and a participant on
// each node. A participant joining through node 7 is seen by the participants of nodes 1 to
// 10, and chat sent at the same time from several nodes reaches everyone once, in the same
// order in every node's log.
func TestTenNodesConverge(t *testing.T) {
	e := NewEnv(t, 10)
	room := e.CreateRoom(0, "Ten nodes")

	start := time.Now()
	var members []*member
	for i := range e.Nodes {
		members = append(members, joinMember(t, e, i, room.ID, fmt.Sprintf("P%d", i+1)))
	}
	waitSees(t, e, members, fedSeeWait)
	t.Logf("10 participants on 10 nodes see each other after %v", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	late := joinMember(t, e, 6, room.ID, "Late7")
	members = append(members, late)
	waitSees(t, e, members, fedSeeWait)
	t.Logf("a participant joining through node 7 is seen on every node after %v", time.Since(start).Round(time.Millisecond))

	senders := []*member{members[0], members[3], members[6], members[9], late}
	start = time.Now()
	sent := mustSend(t, senders, 3, "says hello")
	waitTexts(t, members, sent, fedSeeWait)
	t.Logf("%d messages from 5 nodes reach 11 participants after %v", len(sent), time.Since(start).Round(time.Millisecond))
	if log := checkOneLog(t, e, room.ID, members); len(log) != len(sent) {
		t.Fatalf("the log holds %d messages, %d were sent", len(log), len(sent))
	}
}

// TestPartitionFiveFive: ten nodes with a participant each are split 5|5 while both halves
// chat. Each half reads its own half's chat and nothing of the other's. After healing, every
// node holds the same log, every participant has every message exactly once, the
// participant lists converge, and participants who join afterwards get that log as their
// history, in the same order.
func TestPartitionFiveFive(t *testing.T) {
	e := NewEnv(t, 10)
	room := e.CreateRoom(0, "Split")
	var members []*member
	for i := range e.Nodes {
		members = append(members, joinMember(t, e, i, room.ID, fmt.Sprintf("P%d", i+1)))
	}
	waitSees(t, e, members, fedSeeWait)
	// Everyone speaks once before the split, so every key is known on both sides.
	before := mustSend(t, members, 1, "before")
	waitTexts(t, members, before, fedSeeWait)

	left, right := []int{0, 1, 2, 3, 4}, []int{5, 6, 7, 8, 9}
	leftM, rightM := members[:5], members[5:]
	heard := map[*member]int{}
	for _, m := range members {
		heard[m] = len(m.received())
	}
	start := time.Now()
	e.Partition(left, right)
	t.Logf("partition 5|5 in %v", time.Since(start).Round(time.Millisecond))

	// Both halves chat at the same time.
	var leftSent, rightSent []string
	var leftErr, rightErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); leftSent, leftErr = sendAll(leftM, 3, "left side") }()
	go func() { defer wg.Done(); rightSent, rightErr = sendAll(rightM, 3, "right side") }()
	wg.Wait()
	if err := errors.Join(leftErr, rightErr); err != nil {
		t.Fatal(err)
	}
	waitTexts(t, leftM, leftSent, fedSeeWait)
	waitTexts(t, rightM, rightSent, fedSeeWait)
	// Nothing crossed: no participant got a message from the other half's nodes, and no node
	// holds one in its log.
	for _, half := range []struct {
		members []*member
		nodes   []int
		other   []int
		sent    []string
	}{{leftM, left, right, leftSent}, {rightM, right, left, rightSent}} {
		across := map[string]bool{}
		for _, i := range half.other {
			across[e.PeerID(i).String()] = true
		}
		for _, m := range half.members {
			for _, c := range m.received()[heard[m]:] {
				if across[c.Node] {
					t.Fatalf("%s got %q's message %v from across the partition", m.name, c.Name, chatID{c.Node, c.Seq})
				}
			}
		}
		for _, i := range half.nodes {
			if n, want := len(nodeChat(t, e, i, room.ID)), len(before)+len(half.sent); n != want {
				t.Fatalf("%s holds %d messages during the partition, want %d (its half's)", e.Nodes[i].Name, n, want)
			}
		}
	}

	start = time.Now()
	e.Heal(left, right)
	all := slices.Concat(before, leftSent, rightSent)
	waitTexts(t, members, all, fedHealWait)
	t.Logf("after healing, every participant has all %d messages in %v", len(all), time.Since(start).Round(time.Millisecond))
	waitSees(t, e, members, fedSeeWait)

	// Newcomers, one on each side of the former partition, get the log as their history.
	var fresh []*member
	for _, i := range []int{left[0], right[len(right)-1]} {
		fresh = append(fresh, joinMember(t, e, i, room.ID, fmt.Sprintf("New%d", i+1)))
	}
	log := checkOneLog(t, e, room.ID, slices.Concat(members, fresh))
	if len(log) != len(all) {
		t.Fatalf("the log holds %d messages, %d were sent", len(log), len(all))
	}
	for _, m := range fresh {
		var hist []chatID
		for _, c := range m.received() {
			hist = append(hist, chatID{c.Node, c.Seq})
		}
		if !slices.Equal(hist, log) {
			t.Fatalf("%s's join history %v is not the log %v", m.name, hist, log)
		}
	}
	waitSees(t, e, slices.Concat(members, fresh), fedSeeWait)
}

// TestRestartedNodeCatchesUp: a node is stopped while the others chat; restarted on its data
// directory (with new ports), it rejoins the federation and catches up, and its participant,
// joining again, gets the whole history. The others see the old participant leave and the
// new one arrive.
func TestRestartedNodeCatchesUp(t *testing.T) {
	e := NewEnv(t, 3)
	room := e.CreateRoom(0, "Restart")
	members := []*member{
		joinMember(t, e, 0, room.ID, "Ada"),
		joinMember(t, e, 1, room.ID, "Bo"),
		joinMember(t, e, 2, room.ID, "Cy"),
	}
	waitSees(t, e, members, fedSeeWait)
	early := mustSend(t, members, 1, "early")
	waitTexts(t, members, early, fedSeeWait)

	oldAddrs := e.Nodes[2].Node.Mesh().Addrs()
	e.Stop(2)
	missed := mustSend(t, members[:2], 3, "while Node 3 is down")
	waitTexts(t, members[:2], missed, fedSeeWait)

	start := time.Now()
	e.Restart(2)
	if newAddrs := e.Nodes[2].Node.Mesh().Addrs(); slices.Equal(newAddrs, oldAddrs) {
		t.Logf("Node 3 listens on the same libp2p addresses after its restart: %v", newAddrs)
	} else {
		t.Logf("Node 3's libp2p addresses changed on restart: %v -> %v", oldAddrs, newAddrs)
	}
	cy := joinMember(t, e, 2, room.ID, "Cy again")
	members = []*member{members[0], members[1], cy}
	log := checkOneLog(t, e, room.ID, members[2:])
	if want := len(early) + len(missed); len(log) != want {
		t.Fatalf("Node 3 holds %d messages after its restart, want %d", len(log), want)
	}
	t.Logf("restarted Node 3 caught up with %d messages in %v", len(log), time.Since(start).Round(time.Millisecond))
	waitSees(t, e, members, fedSeeWait)

	// The others learn Node 3's new addresses from its new record.
	Eventually(t, fedSeeWait, "Node 3's new addresses at Node 1", func() error {
		for _, p := range e.Nodes[0].Node.Peers() {
			if p.ID == e.PeerID(2) {
				if !slices.Equal(p.Record.Addrs, e.Nodes[2].Node.Mesh().Addrs()) {
					return fmt.Errorf("Node 1 holds %v", p.Record.Addrs)
				}
				return nil
			}
		}
		return fmt.Errorf("Node 3 is not a peer of Node 1")
	})

	// The others' clients start using a key given to the newcomer a moment after it joined.
	waitReadable(t, members[0], members[2:])
	waitReadable(t, members[1], members[2:])
	after := mustSend(t, members, 1, "after the restart")
	waitTexts(t, members, after, fedSeeWait)
}

// TestNonFederatedNodeRefused: a node outside the federation that knows a member's peer ID
// and addresses is refused at the handshake and never learns the room; a removed peer is
// disconnected, and what it does afterwards reaches nobody who removed it.
func TestNonFederatedNodeRefused(t *testing.T) {
	e := NewEnv(t, 3)
	room := e.CreateRoom(0, "Members only")
	outsider := startNode(t, "Outsider", "Elsewhere")

	// The outsider trusts node 1 on its own side and dials it: node 1 refuses.
	n1 := e.Nodes[0].Node.Mesh()
	refusedBefore := n1.Stats().RefusedConns
	if err := outsider.Node.Mesh().Trust(e.PeerID(0), n1.Addrs()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The dial may complete on the outsider's side: the handshake finishes there before Node 1
	// has judged the outsider's key, refuses it and closes the connection.
	err := outsider.Node.Mesh().Connect(ctx, e.PeerID(0))
	t.Logf("the outsider's dial: %v", err)
	Eventually(t, 5*time.Second, "the outsider disconnected from Node 1", func() error {
		if outsider.Node.Mesh().Connected(e.PeerID(0)) || n1.Connected(outsider.Node.Federation().ID()) {
			return errors.New("still connected")
		}
		return nil
	})
	if got := n1.Stats().RefusedConns; got <= refusedBefore {
		t.Fatalf("Node 1 counted no refused connection (%d, before %d)", got, refusedBefore)
	}
	req := []byte(`{"v":1}`)
	if _, err := outsider.Node.Mesh().Request(ctx, e.PeerID(0), federation.SyncProtocol, req, 0); err == nil {
		t.Fatal("the outsider's catch-up request to Node 1 got an answer")
	}
	fctx, fcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer fcancel()
	if _, err := outsider.Node.Federation().FindRoom(fctx, room.ID); err == nil {
		t.Fatal("the outsider found the room")
	}
	if status, _, err := getRoom(outsider.URL(), room.ID); err != nil || status != 404 {
		t.Fatalf("the outsider's /api/rooms/<id>: %d, %v; want 404", status, err)
	}

	// Node 1 removes Node 3. Node 2 still trusts Node 3.
	ada := joinMember(t, e, 0, room.ID, "Ada")
	bo := joinMember(t, e, 1, room.ID, "Bo")
	waitSees(t, e, []*member{ada, bo}, fedSeeWait)
	if err := e.Nodes[0].Node.RemovePeer(e.PeerID(2).String()); err != nil {
		t.Fatal(err)
	}
	Eventually(t, fedSeeWait, "Node 1 and Node 3 disconnected", func() error {
		if n1.Connected(e.PeerID(2)) || e.Nodes[2].Node.Mesh().Connected(e.PeerID(0)) {
			return fmt.Errorf("still connected")
		}
		return nil
	})
	stats := e.Nodes[0].Node.Federation().Stats
	removedBefore := stats().Rejected[federation.ReasonRemoved] + stats().Rejected[federation.ReasonNotFederated]
	ignoredBefore := n1.Stats().IgnoredMessages

	// Node 3's participant joins and writes: Node 2 follows, Node 1 refuses all of it,
	// including what Node 2 relays.
	cy := joinMember(t, e, 2, room.ID, "Cy")
	waitParticipantID(t, bo.c, "Cy", fedSeeWait)
	sent := mustSend(t, []*member{cy}, 1, "from a removed node")
	waitTexts(t, []*member{bo}, sent, fedSeeWait)
	Eventually(t, fedSeeWait, "Node 1 dropping Node 3's messages", func() error {
		refused := stats().Rejected[federation.ReasonRemoved] + stats().Rejected[federation.ReasonNotFederated] - removedBefore
		ignored := n1.Stats().IgnoredMessages - ignoredBefore
		if refused+ignored == 0 {
			return fmt.Errorf("nothing refused yet")
		}
		return nil
	})
	if names := ParticipantNames(ada.c); len(names) != 1 || names[0] != "Bo" {
		t.Fatalf("Ada sees %v, want only Bo", names)
	}
	for _, c := range ada.received() {
		if c.Node == e.PeerID(2).String() {
			t.Fatalf("Ada got %q's message %v from the removed node", c.Name, chatID{c.Node, c.Seq})
		}
	}
	for _, rec := range e.Nodes[0].Node.Federation().State(room.ID) {
		if rec.Node == e.PeerID(2) {
			t.Fatalf("Node 1 holds a state record of the removed Node 3: %+v", rec)
		}
	}
	for _, id := range nodeChat(t, e, 0, room.ID) {
		if id.node == e.PeerID(2).String() {
			t.Fatalf("Node 1's log holds %v from the removed Node 3", id)
		}
	}
	for _, p := range e.Nodes[0].Node.Peers() {
		if p.ID == e.PeerID(2) {
			t.Fatal("Node 1 still lists Node 3 as a peer")
		}
	}
	if n1.Connected(e.PeerID(2)) {
		t.Fatal("Node 3, which still trusts Node 1, got a connection back")
	}
	t.Logf("Node 1 refused Node 3's gossip: federation rejects %v, mesh ignored %d",
		stats().Rejected, n1.Stats().IgnoredMessages-ignoredBefore)
}
