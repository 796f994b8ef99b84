package ecr

import (
	"context"
	"encoding/base64"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/wire"
	w "github.com/gantry-dev/gantry/internal/wire/ecrwire"
)

func (s *Service) authActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{
		"GetAuthorizationToken": awsapi.Action(m, s.GetAuthorizationToken),
	}
}

// GetAuthorizationToken returns a token for `docker login`: base64 of
// "AWS:<token>", valid 12 hours, bound to the caller's account, principal
// and region, with the endpoint the caller used as proxyEndpoint.
func (s *Service) GetAuthorizationToken(ctx context.Context, in *w.GetAuthorizationTokenRequest) (*w.GetAuthorizationTokenResponse, error) {
	sc := s.scope(ctx)
	for _, id := range in.RegistryIds {
		if err := sc.checkRegistry(id); err != nil {
			return nil, err
		}
	}
	if sc.Account != s.reg.Account() {
		return nil, InvalidParameter.Errorf("This registry serves account %s; account %s has none here.", s.reg.Account(), sc.Account)
	}
	tok, exp := s.reg.IssueToken(sc.Account, sc.Principal, sc.AccessKeyID, sc.Region)
	endpoint := sc.Endpoint
	if endpoint == "" {
		endpoint = "http://" + sc.host()
	}
	return &w.GetAuthorizationTokenResponse{AuthorizationData: []w.AuthorizationData{{
		AuthorizationToken: base64.StdEncoding.EncodeToString([]byte("AWS:" + tok)),
		ExpiresAt:          wire.At(exp),
		ProxyEndpoint:      endpoint,
	}}}, nil
}
