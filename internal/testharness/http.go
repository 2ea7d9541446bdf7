package testharness

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// BearerJSON makes an HTTP request with an optional bearer token and
// returns the status and the JSON object of the body (nil when the body is
// not one, as a plain 404 page), for tests of JSON APIs such as the admin
// API.
func BearerJSON(t testing.TB, method, url, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	var body map[string]any
	if json.Unmarshal(b, &body) != nil {
		body = nil
	}
	return resp.StatusCode, body
}
