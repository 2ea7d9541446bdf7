package bench

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // TURN REST credentials are defined over HMAC-SHA1.
	"encoding/base64"
	"strconv"
	"time"
)

// restCredentials mints a TURN REST username/password pair
// (draft-uberti-behave-turn-rest-00 §2.2): username "<expiry-unix>:<user>",
// password base64(HMAC-SHA1(secret, username)). It mirrors what coturn's
// use-auth-secret and pion's LongTermTURNRESTAuthHandler expect; bench keeps its
// own copy so it can target any server without depending on rtcd's auth package.
func restCredentials(secret, user string, expiry time.Time) (username, password string) {
	username = strconv.FormatInt(expiry.Unix(), 10) + ":" + user
	return username, restPassword(secret, username)
}

func restPassword(secret, username string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username)) // hash.Hash.Write never fails
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
