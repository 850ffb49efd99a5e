package node

import (
	"fmt"
	"net/http"
	"strings"
)

// The node's own pages (servePage) in the web client's languages. A page's language is the
// one the person chose in the web client (its switch sets the cookie parley_lang), else the
// first of the browser's Accept-Language that the node has, else the node's
// default_language, else English.

// langCookie is the cookie the web client's language switch sets.
const langCookie = "parley_lang"

// pageText holds each page's title and text by language; %s in a text is filled in by the
// caller (in the same order in every language).
var pageText = map[string]map[string]string{
	"en": {
		"signInOff.title":            "Sign-in is not enabled",
		"signInOff.text":             "This node has no sign-in provider. Its operator enables sign-in by adding the organisation's OpenID Connect provider to config.json (parley init --oidc-issuer …). Meanwhile, join meetings with their links.",
		"notFound.title":             "Not found",
		"notFound.text":              "There is nothing at this address.",
		"roomClosed.title":           "Room closed to this node",
		"roomClosed.text":            "You reached this room through %s, but it is open to %s only, not to %s. Open the link on your organisation's node if it is one of those, or ask the room's owner.",
		"roomDeleted.title":          "Meeting over",
		"roomDeleted.text":           "The host of this meeting deleted its room: nobody can join it any more, and its chat is gone.",
		"noRoom.title":               "No such room",
		"noRoom.text":                "This node has no room at this address. Check the link you were given.",
		"error.title":                "Error",
		"error.text":                 "The node could not read this room. Try again later.",
		"footer":                     "Parley node %s",
		"signIn.unavailable.title":   "Sign-in unavailable",
		"signIn.unavailable.text":    "The sign-in provider of this node cannot be reached right now. Try again in a moment; meanwhile you can still join a meeting with its link as a guest.",
		"signIn.providerError.title": "Sign-in refused by the provider",
		"signIn.providerError.text":  "The sign-in provider answered: %s. Go back to the home page and sign in again.",
		"signIn.foreign.title":       "Sign-in not recognised",
		"signIn.foreign.text":        "This sign-in answer does not belong to a sign-in started in this browser (its state does not match). Go back to the home page and sign in again.",
		"signIn.expired.title":       "Sign-in expired",
		"signIn.expired.text":        "This sign-in was started too long ago or was used already. Go back to the home page and sign in again.",
		"signIn.noCode.title":        "Sign-in incomplete",
		"signIn.noCode.text":         "The provider sent no code. Go back to the home page and sign in again.",
		"signIn.notAccepted.title":   "Sign-in failed",
		"signIn.notAccepted.text":    "The sign-in provider did not accept this sign-in. Go back to the home page and sign in again.",
		"signIn.noToken.title":       "Sign-in failed",
		"signIn.noToken.text":        "The provider sent no ID token. Go back to the home page and sign in again.",
		"signIn.badToken.title":      "Sign-in refused",
		"signIn.badToken.text":       "The identity the provider sent did not check (%s). Go back to the home page and sign in again.",
		"signIn.nonce.title":         "Sign-in refused",
		"signIn.nonce.text":          "The identity the provider sent was made for another sign-in (its nonce does not match). Go back to the home page and sign in again.",
		"signIn.unreadable.title":    "Sign-in failed",
		"signIn.unreadable.text":     "The provider's ID token does not read. Go back to the home page and sign in again.",
		"signIn.weak.title":          "Sign-in not strong enough",
		"signIn.weak.text":           "This node asks for a sign-in of level %s, and the provider reported %s. Sign in again with the stronger method your provider offers.",
		"signIn.userinfo.title":      "Sign-in failed",
		"signIn.userinfo.text":       "The provider's user information could not be read. Go back to the home page and sign in again.",
		"signIn.userinfoOther.title": "Sign-in refused",
		"signIn.userinfoOther.text":  "The provider's user information is about someone else. Go back to the home page and sign in again.",
		"signIn.session.title":       "Sign-in failed",
		"signIn.session.text":        "The node could not store your session. Try again later.",
	},
	"fr": {
		"signInOff.title":            "La connexion n’est pas activée",
		"signInOff.text":             "Ce nœud n’a pas de fournisseur d’identité. Pour activer la connexion, son exploitant doit ajouter le fournisseur OpenID Connect de l’organisation dans config.json (parley init --oidc-issuer …). En attendant, rejoignez les réunions par leur lien.",
		"notFound.title":             "Page introuvable",
		"notFound.text":              "Il n’y a rien à cette adresse.",
		"roomClosed.title":           "Réunion inaccessible depuis ce nœud",
		"roomClosed.text":            "Vous avez ouvert cette réunion via le nœud %s, mais elle n’est accessible qu’aux organisations suivantes\u00a0: %s (et non à %s). Ouvrez le lien sur le nœud de votre organisation si elle figure dans cette liste, ou adressez-vous à l’organisateur.",
		"roomDeleted.title":          "Réunion terminée",
		"roomDeleted.text":           "L’organisateur a supprimé cette réunion\u00a0: plus personne ne peut la rejoindre, et sa discussion a été effacée.",
		"noRoom.title":               "Réunion introuvable",
		"noRoom.text":                "Ce nœud n’a pas de réunion à cette adresse. Vérifiez le lien que vous avez reçu.",
		"error.title":                "Erreur",
		"error.text":                 "Le nœud n’a pas pu lire cette réunion. Réessayez plus tard.",
		"footer":                     "Nœud Parley %s",
		"signIn.unavailable.title":   "Connexion indisponible",
		"signIn.unavailable.text":    "Le fournisseur d’identité de ce nœud est injoignable pour le moment. Réessayez dans un instant\u00a0; en attendant, vous pouvez tout de même rejoindre une réunion par son lien, sans vous connecter.",
		"signIn.providerError.title": "Connexion refusée par le fournisseur",
		"signIn.providerError.text":  "Le fournisseur d’identité a répondu\u00a0: %s. Revenez à la page d’accueil et connectez-vous de nouveau.",
		"signIn.foreign.title":       "Connexion non reconnue",
		"signIn.foreign.text":        "Cette réponse ne correspond à aucune connexion commencée dans ce navigateur (son paramètre state ne concorde pas). Revenez à la page d’accueil et connectez-vous de nouveau.",
		"signIn.expired.title":       "Connexion expirée",
		"signIn.expired.text":        "Cette tentative de connexion est trop ancienne ou a déjà été utilisée. Revenez à la page d’accueil et connectez-vous de nouveau.",
		"signIn.noCode.title":        "Connexion incomplète",
		"signIn.noCode.text":         "Le fournisseur n’a envoyé aucun code. Revenez à la page d’accueil et connectez-vous de nouveau.",
		"signIn.notAccepted.title":   "Échec de la connexion",
		"signIn.notAccepted.text":    "Le fournisseur d’identité n’a pas accepté cette connexion. Revenez à la page d’accueil et connectez-vous de nouveau.",
		"signIn.noToken.title":       "Échec de la connexion",
		"signIn.noToken.text":        "Le fournisseur n’a envoyé aucun jeton d’identité. Revenez à la page d’accueil et connectez-vous de nouveau.",
		"signIn.badToken.title":      "Connexion refusée",
		"signIn.badToken.text":       "L’identité envoyée par le fournisseur n’a pas pu être vérifiée (%s). Revenez à la page d’accueil et connectez-vous de nouveau.",
		"signIn.nonce.title":         "Connexion refusée",
		"signIn.nonce.text":          "L’identité envoyée par le fournisseur a été émise pour une autre connexion (son paramètre nonce ne concorde pas). Revenez à la page d’accueil et connectez-vous de nouveau.",
		"signIn.unreadable.title":    "Échec de la connexion",
		"signIn.unreadable.text":     "Le jeton d’identité du fournisseur est illisible. Revenez à la page d’accueil et connectez-vous de nouveau.",
		"signIn.weak.title":          "Niveau de connexion insuffisant",
		"signIn.weak.text":           "Ce nœud exige une connexion de niveau %s, or le fournisseur a indiqué le niveau %s. Connectez-vous de nouveau avec la méthode d’authentification la plus sûre proposée par votre fournisseur.",
		"signIn.userinfo.title":      "Échec de la connexion",
		"signIn.userinfo.text":       "Les informations d’utilisateur du fournisseur n’ont pas pu être lues. Revenez à la page d’accueil et connectez-vous de nouveau.",
		"signIn.userinfoOther.title": "Connexion refusée",
		"signIn.userinfoOther.text":  "Les informations d’utilisateur du fournisseur concernent une autre personne. Revenez à la page d’accueil et connectez-vous de nouveau.",
		"signIn.session.title":       "Échec de la connexion",
		"signIn.session.text":        "Le nœud n’a pas pu enregistrer votre session. Réessayez plus tard.",
	},
}

// pageLanguage is the language of the node's pages for r.
func (n *Node) pageLanguage(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil && pageText[c.Value] != nil {
		return c.Value
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		base, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if pageText[base] != nil {
			return base
		}
	}
	if pageText[n.cfg.DefaultLanguage] != nil {
		return n.cfg.DefaultLanguage
	}
	return "en"
}

// pageMessage is the message key of lang, with args filled in.
func pageMessage(lang, key string, args ...any) string {
	m, ok := pageText[lang][key]
	if !ok {
		m = pageText["en"][key]
	}
	if len(args) == 0 {
		return m
	}
	return fmt.Sprintf(m, args...)
}
