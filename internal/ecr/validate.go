package ecr

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/wire"
)

// invalidParameterMessage words a violated model constraint as ECR does:
// one constraint, named by the member's path, in the words of AWS's request
// validation ("Invalid parameter at 'maxResults' failed to satisfy
// constraint: 'Member must have value less than or equal to 1000'"). ECR
// reports the first violation only.
func invalidParameterMessage(v []wire.Violation) string {
	x := v[0]
	return fmt.Sprintf("Invalid parameter at '%s' failed to satisfy constraint: '%s'", memberPath(x.Path), constraintText(x))
}

// constraintText is AWS's phrase for the rule a violation broke.
func constraintText(x wire.Violation) string {
	unit := "value"
	if x.Length {
		unit = "length"
	}
	limit := strconv.FormatFloat(x.Limit, 'f', -1, 64)
	switch x.Rule {
	case "required":
		return "Member must not be null"
	case "enum":
		return "Member must satisfy enum value set: [" + strings.Join(x.Allowed, ", ") + "]"
	case "min":
		return "Member must have " + unit + " greater than or equal to " + limit
	case "max":
		return "Member must have " + unit + " less than or equal to " + limit
	}
	return "Member " + x.Problem
}

var indexInPath = regexp.MustCompile(`\[(\d+)\]`)

// memberPath turns a violation's path (`imageIds[0].imageTag`) into AWS's
// (`imageIds.1.member.imageTag`): list positions count from 1.
func memberPath(p string) string {
	return indexInPath.ReplaceAllStringFunc(p, func(m string) string {
		n, _ := strconv.Atoi(m[1 : len(m)-1])
		return "." + strconv.Itoa(n+1) + ".member"
	})
}

// action is awsapi.Action with the model constraint the generated types do
// not carry: the repository-name pattern, which ECR checks on every request
// naming a repository (repositoryName, or each of repositoryNames) before
// looking it up.
func action[In, Out any](m awsapi.Model, fn func(context.Context, *In) (*Out, error)) awsapi.Handler {
	return awsapi.Action(m, func(ctx context.Context, in *In) (*Out, error) {
		if err := checkRepoNames(reflect.ValueOf(in).Elem()); err != nil {
			return nil, err
		}
		return fn(ctx, in)
	})
}

// checkRepoNames checks the RepositoryName and RepositoryNames members of
// a request struct, if it has them.
func checkRepoNames(v reflect.Value) error {
	if v.Kind() != reflect.Struct {
		return nil
	}
	if f := v.FieldByName("RepositoryName"); f.IsValid() && f.Kind() == reflect.String && f.Len() > 0 {
		if err := validRepoName(f.String()); err != nil {
			return err
		}
	}
	if f := v.FieldByName("RepositoryNames"); f.IsValid() && f.Kind() == reflect.Slice {
		for i := range f.Len() {
			if e := f.Index(i); e.Kind() == reflect.String {
				if err := validRepoName(e.String()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
