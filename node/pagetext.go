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
		"signInOff.title":   "Sign-in is not enabled",
		"signInOff.text":    "This node has no sign-in provider. Its operator enables sign-in by adding the organisation's OpenID Connect provider to config.json (parley init --oidc-issuer …). Meanwhile, join meetings with their links.",
		"notFound.title":    "Not found",
		"notFound.text":     "There is nothing at this address.",
		"roomClosed.title":  "Room closed to this node",
		"roomClosed.text":   "You reached this room through %s, but it is open to %s only, not to %s. Open the link on your organisation's node if it is one of those, or ask the room's owner.",
		"roomDeleted.title": "Meeting over",
		"roomDeleted.text":  "The host of this meeting deleted its room: nobody can join it any more, and its chat is gone.",
		"noRoom.title":      "No such room",
		"noRoom.text":       "This node has no room at this address. Check the link you were given.",
		"error.title":       "Error",
		"error.text":        "The node could not read this room. Try again later.",
		"footer":            "Parley node %s",
	},
	"fr": {
		"signInOff.title":   "La connexion n’est pas activée",
		"signInOff.text":    "Ce nœud n’a pas de fournisseur d’identité. Son exploitant active la connexion en ajoutant le fournisseur OpenID Connect de l’organisation dans config.json (parley init --oidc-issuer …). En attendant, rejoignez les réunions par leur lien.",
		"notFound.title":    "Page introuvable",
		"notFound.text":     "Il n’y a rien à cette adresse.",
		"roomClosed.title":  "Réunion fermée à ce nœud",
		"roomClosed.text":   "Vous avez ouvert cette réunion par %s, mais elle n’est ouverte qu’à %s, et non à %s. Ouvrez le lien sur le nœud de votre organisation si elle en fait partie, ou adressez-vous à l’organisateur.",
		"roomDeleted.title": "Réunion terminée",
		"roomDeleted.text":  "L’organisateur a supprimé cette réunion\u00a0: plus personne ne peut la rejoindre, et sa discussion a été effacée.",
		"noRoom.title":      "Réunion introuvable",
		"noRoom.text":       "Ce nœud n’a pas de réunion à cette adresse. Vérifiez le lien que vous avez reçu.",
		"error.title":       "Erreur",
		"error.text":        "Le nœud n’a pas pu lire cette réunion. Réessayez plus tard.",
		"footer":            "Nœud Parley %s",
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
