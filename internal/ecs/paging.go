package ecs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/gantry-dev/gantry/internal/state"
)

// A nextToken is opaque to clients: it carries the key the next page starts
// after, and the action it belongs to, so a token from one list is refused
// by another.
type pageToken struct {
	Action string `json:"a"`
	After  string `json:"k"`
}

func encodeToken(action, after string) string {
	b, _ := json.Marshal(pageToken{action, after})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(action, token string) (string, error) {
	if token == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	var t pageToken
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil || t.Action != action {
		return "", InvalidParameter.Errorf("Invalid nextToken: pass the nextToken of a previous %s response unchanged.", action)
	}
	return t.After, nil
}

// checkTokenPrefix refuses a token whose key lies outside the listed prefix:
// a token of the same action but other parameters (another cluster, another
// status) would otherwise resume the listing in someone else's records.
func checkTokenPrefix(action, after, prefix string) error {
	if after != "" && !strings.HasPrefix(after, prefix) {
		return InvalidParameter.Errorf("Invalid nextToken: it belongs to a %s request with other parameters; pass it with the same parameters as the request that returned it.", action)
	}
	return nil
}

// pageSize checks maxResults against the bounds of an action and applies its default.
func pageSize(maxResults *int32, def, max int32) (int, error) {
	if maxResults == nil {
		return int(def), nil
	}
	if *maxResults < 1 || *maxResults > max {
		return 0, InvalidParameter.Errorf("maxResults must be between 1 and %d, got %d.", max, *maxResults)
	}
	return int(*maxResults), nil
}

// listFiltered pages through the records under prefix, keeping those that
// keep reports true and mapping them to strings (ARNs, names). It returns up
// to limit results and the nextToken that resumes after the last record
// examined ("" when none remain).
func listFiltered(ctx context.Context, st *state.Store, action, prefix, token string, limit int,
	keep func(state.Item) (string, bool, error)) ([]string, string, error) {
	after, err := decodeToken(action, token)
	if err != nil {
		return nil, "", err
	}
	if err := checkTokenPrefix(action, after, prefix); err != nil {
		return nil, "", err
	}
	out := []string{}
	for {
		page, err := st.List(ctx, prefix, after, limit-len(out))
		if err != nil {
			return nil, "", err
		}
		for _, it := range page.Items {
			v, ok, err := keep(it)
			if err != nil {
				return nil, "", err
			}
			if ok {
				out = append(out, v)
			}
			after = it.Key
		}
		if !page.More {
			return out, "", nil
		}
		if len(out) >= limit {
			return out, encodeToken(action, after), nil
		}
	}
}
