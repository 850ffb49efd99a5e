package auth

// The pages a person sees when sign-in cannot go on name their message by key; the node
// holds each key's title and text in every language of its pages. Texts take the arguments
// listed here, in this order.
const (
	MsgUnavailable   = "signIn.unavailable"   // the provider cannot be reached
	MsgProviderError = "signIn.providerError" // the provider's own error: its code and description
	MsgForeign       = "signIn.foreign"       // the answer's state is not this browser's sign-in
	MsgExpired       = "signIn.expired"       // the sign-in is too old or was used already
	MsgNoCode        = "signIn.noCode"        // the provider sent no code
	MsgNotAccepted   = "signIn.notAccepted"   // the provider refused the code
	MsgNoToken       = "signIn.noToken"       // the provider sent no ID token
	MsgBadToken      = "signIn.badToken"      // the ID token did not verify: why
	MsgNonce         = "signIn.nonce"         // the ID token is for another sign-in
	MsgUnreadable    = "signIn.unreadable"    // the ID token's claims do not decode
	MsgWeak          = "signIn.weak"          // acr too weak: the levels asked for, the level reported
	MsgUserinfo      = "signIn.userinfo"      // userinfo could not be read
	MsgUserinfoOther = "signIn.userinfoOther" // userinfo names another subject
	MsgSession       = "signIn.session"       // the node could not store the session
)

// Messages lists every message key this package shows, with how many arguments its text
// takes.
var Messages = map[string]int{
	MsgUnavailable: 0, MsgProviderError: 1, MsgForeign: 0, MsgExpired: 0, MsgNoCode: 0,
	MsgNotAccepted: 0, MsgNoToken: 0, MsgBadToken: 1, MsgNonce: 0, MsgUnreadable: 0,
	MsgWeak: 2, MsgUserinfo: 0, MsgUserinfoOther: 0, MsgSession: 0,
}
