// Package signal defines Parley's client signalling: the JSON messages a participant's client
// (the web client or the Go client) and its home node exchange over one WebSocket.
//
// It owns the wire types and their strict decoder. It must not know about rooms, stores or
// peer connections: the node and the SFU give the messages meaning.
//
// # Connections
//
// A participant has two WebRTC peer connections to its home node, so that neither side ever
// has to resolve an offer glare:
//
//	pc "pub": the client offers, the node answers. Carries what the client publishes
//	          (microphone, camera with up to three simulcast layers, screen share).
//	pc "sub": the node offers, the client answers. Carries what the client receives; the node
//	          re-offers whenever tracks come or go.
//
// # Message flow
//
//	client                                   node
//	  | {"type":"join","name":"Ada"}           |
//	  |--------------------------------------->|
//	  |   {"type":"joined","you":…,"room":…,   |
//	  |    "participants":[…],"history":[…]}   |
//	  |<---------------------------------------|
//	  | {"type":"offer","pc":"pub","sdp":…,    |
//	  |  "tracks":{"0":{"source":"mic"},…}}    |
//	  |--------------------------------------->|
//	  |   {"type":"answer","pc":"pub","sdp":…} |
//	  |<---------------------------------------|
//	  |   {"type":"offer","pc":"sub","sdp":…,  |
//	  |    "tracks":{"0":{"id":…,"participant":…,"kind":"video","source":"camera"}}}
//	  |<---------------------------------------|
//	  | {"type":"answer","pc":"sub","sdp":…}   |
//	  |--------------------------------------->|
//	  | {"type":"candidate","pc":…,"candidate":{…}}   (both ways, any time)
//
// Every message is one JSON object with a "type". Client to node: join, offer (pc pub),
// answer (pc sub), candidate, chat, hand, mute, layer, key, admit, remove, moderate, react,
// leave, ping. Node to client: joined, lobby, waiting, answer (pc pub), offer (pc sub),
// candidate, participant_joined, participant_updated, participant_left, chat, key, speakers,
// waiting, waiting_add, waiting_remove, moderated, reaction, error, pong.
//
// # Moderation and reactions
//
// A moderator sends {"type":"moderate","action":A} with A one of the Action constants, and
// "id" for the actions on one participant (mute, cohost); the node answers nothing on success
// and an error with code not_allowed otherwise. Only the room's owner (the person who made it,
// signed in) makes co-hosts. Every participant it concerns, on every node, gets
// {"type":"moderated","action":A,"name":"<moderator's name>"}:
//
//	mute         the client is asked to turn its microphone off, and obeys (the node cannot
//	             mute media it cannot read: with end-to-end encryption only the client can)
//	mute_all     the same, for everyone but the moderator who asked
//	lower_hands  the node has lowered the participant's hand
//	cohost       the participant is a moderator from now on (participant_updated follows)
//	end          the meeting is over for everyone: the connection ends with error code
//	             meeting_ended
//
// Anyone admitted sends {"type":"react","reaction":R} (R one of Reactions); everyone gets
// {"type":"reaction","id":"<participant>","reaction":R}.
//
// # End-to-end encryption
//
// Media and chat are end-to-end encrypted by the clients (see package parley/identity for the
// formats); the node relays what it cannot read. A join carries the client's public keys; the
// node answers with a certificate for them (joined.you.cert) and the node keys the client may
// trust (joined.node_keys); every participant carries its certificate. A client announces each
// new media key in a "key" message whose envelope names its recipients; the node checks the
// sender's signature and hands the envelope to each named participant who is admitted. Chat
// carries SFrame ciphertext ("sframe"), never text.
//
// # Lobby
//
// In a room with a lobby, a join is answered with "lobby" and the client waits: it gets no
// participants, no keys and no media. Moderators (clients that joined with the room's
// moderator token) get "waiting" with the list of waiting people when they enter, then one
// change at a time ("waiting_add" with the one arrival, "waiting_remove" with the id of
// who is no longer waiting), and answer with "admit" or "remove"; an admitted client then
// gets "joined" as usual. The lobby has a size limit (error "lobby_full") and a wait limit
// (error "lobby_timeout"). "remove" also takes an admitted
// participant out of the room; everyone else sees participant_left with reason "removed" and
// moves to new keys.
//
// In an offer on pc "pub", Tracks maps each sending transceiver's mid to its Source. In an
// offer on pc "sub", Tracks maps each receiving transceiver's mid to the remote track it
// carries (id, participant, kind, source); a client must use this map, not track or stream
// ids, to tell whose camera or screen a track is.
package signal

import "parley/identity"

// Message types.
const (
	TypeJoin               = "join"
	TypeJoined             = "joined"
	TypeOffer              = "offer"
	TypeAnswer             = "answer"
	TypeCandidate          = "candidate"
	TypeChat               = "chat"
	TypeHand               = "hand"
	TypeMute               = "mute"
	TypeLayer              = "layer"
	TypeLeave              = "leave"
	TypePing               = "ping"
	TypePong               = "pong"
	TypeParticipantJoined  = "participant_joined"
	TypeParticipantUpdated = "participant_updated"
	TypeParticipantLeft    = "participant_left"
	TypeSpeakers           = "speakers"
	TypeError              = "error"
	TypeKey                = "key"
	TypeLobby              = "lobby"
	TypeWaiting            = "waiting"
	TypeWaitingAdd         = "waiting_add"
	TypeWaitingRemove      = "waiting_remove"
	TypeAdmit              = "admit"
	TypeRemove             = "remove"
	TypeModerate           = "moderate"
	TypeModerated          = "moderated"
	TypeReact              = "react"
	TypeReaction           = "reaction"
	// TypeCaption: from the transcriber agent, a caption sealed with its chat key (SFrame);
	// from the node, that caption relayed to everyone in the meeting.
	TypeCaption = "caption"
	// TypeLang (client to node): the language the participant speaks changed (Lang).
	TypeLang = "lang"
)

// Moderator actions ("moderate", "moderated").
const (
	ActionMute       = "mute"
	ActionMuteAll    = "mute_all"
	ActionLowerHands = "lower_hands"
	ActionCohost     = "cohost"
	ActionEnd        = "end"
	// ActionTranscribe starts the meeting's transcriber agent, ActionTranscribeStop stops it.
	ActionTranscribe     = "transcribe"
	ActionTranscribeStop = "transcribe_stop"
)

// Reactions are the reactions a participant may send, by name (clients show them as emoji).
var Reactions = []string{"thumbs_up", "clap", "heart", "laugh", "surprised", "celebrate"}

// Peer connection names.
const (
	PCPub = "pub" // client offers, carries what the client publishes
	PCSub = "sub" // node offers, carries what the client receives
)

// Track sources.
const (
	SourceMic    = "mic"
	SourceCamera = "camera"
	SourceScreen = "screen"
)

// Simulcast qualities a subscriber may ask for with a "layer" message.
const (
	QualityLow    = "low"
	QualityMedium = "medium"
	QualityHigh   = "high"
)

// Error codes sent in "error" messages.
const (
	CodeBadMessage  = "bad_message"   // the message could not be decoded or failed validation
	CodeNotJoined   = "not_joined"    // a message other than join arrived before join
	CodeUnknownRoom = "unknown_room"  // the room does not exist on this node
	CodeBadSDP      = "bad_sdp"       // the SDP or ICE candidate was rejected
	CodeRoomFull    = "room_full"     // the room reached its participant limit
	CodeInternal    = "internal"      // the node failed; the client may retry
	CodeBadKeys     = "bad_keys"      // the join's public keys or a key envelope were rejected
	CodeRemoved     = "removed"       // a moderator removed the client (or refused it entry)
	CodeNotAllowed  = "not_allowed"   // only moderators may do that
	CodeRoomDeleted = "room_deleted"  // the room's owner deleted it: the meeting is over for good
	CodeEnded       = "meeting_ended" // a moderator ended the meeting for everyone
	CodeSignIn      = "sign_in"       // the room takes only people signed in at their home node
	CodeNoEngine    = "no_engine"     // the node has no speech engine: it cannot transcribe
	// CodeTranscriber (to moderators): the transcriber's speech engine failed; the text
	// says what it said.
	CodeTranscriber = "transcriber"
	// CodeRateLimited: over a per-participant rate limit (chat, keys, hand, mute, offers); a
	// client refused too often is disconnected.
	CodeRateLimited = "rate_limited"
)

// Reasons in participant_left.
const (
	ReasonLeft    = ""        // the participant left or its connection ended
	ReasonRemoved = "removed" // a moderator removed the participant
	// ReasonUnreachable: the participant's node has been out of reach for a while; they may
	// come back (participant_joined) when it is reachable again.
	ReasonUnreachable = "unreachable"
)

// Message is one signalling message. Which fields are set depends on Type; Decode enforces it.
type Message struct {
	Type string `json:"type"`

	// join: the display name. moderated: the moderator's. error: unused.
	Name string `json:"name,omitempty"`
	// join: the client's public keys (required).
	Keys *Keys `json:"keys,omitempty"`
	// join: the room's moderator token, if the client holds it.
	Mod string `json:"mod,omitempty"`
	// join: the agent token the node gave the transcriber it started (nobody else has one).
	Agent string `json:"agent,omitempty"`
	// join, lang: the language the participant speaks, a BCP 47 tag ("fr", "en-GB"); the
	// transcriber listens for it. Clients send the language of their interface.
	Lang string `json:"lang,omitempty"`

	// offer, answer, candidate: which peer connection.
	PC string `json:"pc,omitempty"`
	// offer, answer: the session description.
	SDP string `json:"sdp,omitempty"`
	// offer: transceiver mid → track (see package doc).
	Tracks map[string]Track `json:"tracks,omitempty"`
	// candidate: one ICE candidate; nil Candidate.Candidate text means end of candidates.
	Candidate *Candidate `json:"candidate,omitempty"`

	// chat (client to node): the SFrame ciphertext of the text.
	SFrame []byte `json:"sframe,omitempty"`
	// chat (node to client): the stored message.
	Chat *ChatMessage `json:"chat,omitempty"`
	// caption (node to client): a caption of the transcriber agent.
	Caption *Caption `json:"caption,omitempty"`

	// hand: raised or lowered. mute: muted or not.
	Raised *bool `json:"raised,omitempty"`
	Muted  *bool `json:"muted,omitempty"`
	// mute: which source (mic, camera or screen).
	Source string `json:"source,omitempty"`

	// layer: the remote track and the highest quality wanted for it.
	Track   string `json:"track,omitempty"`
	Quality string `json:"quality,omitempty"`

	// joined: who the client is, the room, who is already there, recent chat.
	You          *Participant  `json:"you,omitempty"`
	Room         *Room         `json:"room,omitempty"`
	Participants []Participant `json:"participants,omitempty"`
	History      []ChatMessage `json:"history,omitempty"`

	// participant_joined, participant_updated: the participant as it is now.
	Participant *Participant `json:"participant,omitempty"`
	// participant_left: who left. admit, remove, moderate: whom. reaction: who reacted.
	ID string `json:"id,omitempty"`
	// participant_left: why (a Reason constant).
	Reason string `json:"reason,omitempty"`

	// joined: the node keys (b64u Ed25519) whose certificates the client may trust.
	NodeKeys []string `json:"node_keys,omitempty"`
	// key: a signed key envelope (identity.SignedObject; see package parley/identity).
	Envelope *identity.SignedObject `json:"envelope,omitempty"`
	// waiting (to moderators): who is in the lobby, in order of arrival. waiting_add: the one
	// person who arrived. waiting_remove: unused (ID says who left the lobby).
	Waiting []Waiting `json:"waiting,omitempty"`

	// moderate, moderated: what a moderator does (an Action constant).
	Action string `json:"action,omitempty"`
	// react, reaction: one of Reactions.
	Reaction string `json:"reaction,omitempty"`

	// speakers: the participants currently speaking, loudest first.
	Speakers []string `json:"speakers,omitempty"`

	// error: a code from the Code constants and a human-readable message.
	Code  string `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
}

// Caption is a live caption as the node relays it: from the transcriber agent (From), sealed
// with the agent's chat key over the metadata room + CaptionContext. Its plaintext is the
// JSON of CaptionText.
type Caption struct {
	From   string `json:"from"`
	SFrame []byte `json:"sframe"`
	Time   int64  `json:"time"` // unix milliseconds, when the node relayed it
}

// AgentIssuer is the issuer a node puts in the certificate of the agent it starts (the
// transcriber), in place of an identity provider's: clients show that participant as an
// agent, never as a signed-in person.
const AgentIssuer = identity.AgentIssuer

// CaptionContext is appended to the room ID in a caption's SFrame metadata, so that a
// caption can never be passed off as a chat message or the other way round.
const CaptionContext = "/captions"

// CaptionText is what a caption says, once decrypted: who spoke (participant id and name),
// what (interim guesses are replaced by the next caption of the same Seq), and where in the
// meeting (milliseconds since the agent joined).
type CaptionText struct {
	Speaker string `json:"speaker"`
	Name    string `json:"name"`
	Text    string `json:"text"`
	Final   bool   `json:"final"`
	Seq     uint64 `json:"seq"` // the speaker's utterance number
	StartMS int64  `json:"start_ms"`
	EndMS   int64  `json:"end_ms"`
	// Unavailable, set instead of Text: the transcriber has no speech model for the
	// language the speaker speaks (this BCP 47 tag), so it cannot caption them.
	Unavailable string `json:"unavailable,omitempty"`
}

// Track describes one published track. In a pub offer only Source is set.
type Track struct {
	ID          string `json:"id,omitempty"`
	Participant string `json:"participant,omitempty"`
	Kind        string `json:"kind,omitempty"` // "audio" or "video"
	Source      string `json:"source"`
}

// Candidate is an ICE candidate as the browser's RTCIceCandidateInit spells it.
type Candidate struct {
	Candidate     string  `json:"candidate"`
	SDPMid        *string `json:"sdpMid,omitempty"`
	SDPMLineIndex *uint16 `json:"sdpMLineIndex,omitempty"`
	// UsernameFragment is the ICE ufrag browsers add; informational.
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// Keys are a client's public keys: an Ed25519 signing key (b64u) and an age X25519 recipient.
type Keys struct {
	SigPub string `json:"sig_pub"`
	Age    string `json:"age"`
}

// Waiting is a person in a room's lobby as moderators see it.
type Waiting struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Verified: signed in at this node, and Name is the identity provider's; else a guest.
	Verified bool `json:"verified,omitempty"`
}

// Participant is a participant as every client sees it.
type Participant struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Org       string `json:"org,omitempty"` // the organisation of the participant's home node
	Moderator bool   `json:"moderator,omitempty"`
	Owner     bool   `json:"owner,omitempty"` // made the room: makes co-hosts
	// Verified: the participant's home node signed them in with its organisation's identity
	// provider, and Name is the provider's; otherwise the name is what they typed (a guest).
	Verified bool `json:"verified,omitempty"`
	// Cert is the participant's certificate from its home node (see package parley/identity).
	Cert        *identity.SignedObject `json:"cert,omitempty"`
	Hand        bool                   `json:"hand"`
	MicMuted    bool                   `json:"mic_muted"`
	CameraMuted bool                   `json:"camera_muted"`
	Screen      bool                   `json:"screen"`
	Lang        string                 `json:"lang,omitempty"` // the language they speak, if they said
}

// Room is what a client learns about the room it joined.
type Room struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Lobby bool   `json:"lobby,omitempty"` // joiners wait until a moderator admits them
	// Guests: who may join without signing in (a federation.Guests* policy: "", "lobby", "no").
	Guests string `json:"guests,omitempty"`
}

// ChatMessage is one stored chat message. Its text is end-to-end encrypted: SFrame holds the
// ciphertext, which only participants holding the sender's key of the time can read.
type ChatMessage struct {
	// Seq numbers the messages of one node (Node) in the room; (Node, Seq) is unique.
	Seq    uint64 `json:"seq"`
	Node   string `json:"node,omitempty"` // the sender's home node (libp2p peer ID)
	From   string `json:"from"`           // participant id
	Name   string `json:"name"`
	SFrame []byte `json:"sframe"`
	Time   int64  `json:"time"` // unix milliseconds
}

// Simulcast RIDs. A camera published with simulcast sends up to three encodings with these
// rids; the node orders them low < medium < high. A track without rids is one layer.
const (
	RIDLow    = "q" // quarter resolution
	RIDMedium = "h" // half resolution
	RIDHigh   = "f" // full resolution
)
