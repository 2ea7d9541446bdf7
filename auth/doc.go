// Package auth mints and verifies the two kinds of credentials rtcd hands out:
// TURN REST credentials (coturn's use-auth-secret scheme, so any RFC 5766 client
// and any coturn-compatible issuer interoperate) and short HS256 join tokens for
// the signaling hub.
//
// TURN credentials: the username is "<expiry unix seconds>:<user part>" and the
// password is base64(HMAC-SHA1(secret, username)) with padding
// (draft-uberti-behave-turn-rest-00, coturn use-auth-secret). Usernames minted
// here carry a key id in the user part, "<expiry>:<kid>:<user>", because pion's
// AuthHandler can return only one key: the kid picks the secret without trying
// every configured one, which makes secret rotation possible. Usernames without
// a known kid are checked against the first secret, so credentials minted by an
// operator's own application in the plain coturn shape keep working.
//
// The package is a leaf: it imports only the standard library and golang-jwt.
package auth
