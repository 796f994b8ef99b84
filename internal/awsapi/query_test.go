package awsapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/gantry-dev/gantry/internal/wire"
)

// The Query edge is tested with two tiny services of its own, one per
// protocol, whose types carry the tags shapegen generates, signed by the AWS
// SDK's SigV4 signer, over real HTTP.

type qTag struct {
	Key   string `json:"Key,omitempty" query:"Key" xml:"key"`
	Value string `json:"Value,omitempty" query:"Value" xml:"value"`
}

// ec2-style: lists flattened in requests (Tag.1.Key), wrapped in items in
// responses (<tagSet><item>).
type qEC2In struct {
	Name  string            `json:"Name,omitempty" query:"Name" xml:"name" aws:"required"`
	Mode  string            `json:"Mode,omitempty" query:"Mode" xml:"mode" aws:"enum=Mode"`
	Count *int32            `json:"Count,omitempty" query:"Count" xml:"count" aws:"min=1,max=10"`
	Tags  []qTag            `json:"Tag,omitempty" query:"Tag" xml:"tagSet>item"`
	IDs   []string          `json:"Id,omitempty" query:"Id" xml:"idSet>item"`
	Attrs map[string]string `json:"Attr,omitempty" query:"Attr.entry" xml:"attrs>entry" kv:"Name,Value"`
	When  *struct {
		Day string `json:"Day,omitempty" query:"Day" xml:"day"`
	} `json:"When,omitempty" query:"When" xml:"when"`
}

type qEC2Out struct {
	Name    string     `xml:"name"`
	OK      *bool      `xml:"ok"`
	Tags    []qTag     `xml:"tagSet>item"`
	Empty   []qTag     `xml:"emptySet>item"`
	Nothing []qTag     `xml:"nothingSet>item"`
	IDs     []string   `xml:"idSet>item"`
	Account string     `xml:"account"`
	At      *wire.Time `xml:"at"`
}

// plain Query: lists under `member` both ways.
type qPlainIn struct {
	Names []string `json:"Names,omitempty" query:"Names.member,wrapped" xml:"Names>member" aws:"required"`
}

type qPlainOut struct {
	Names []string `xml:"Names>member"`
}

func testQueryEdge(t *testing.T) *httptest.Server {
	m := QueryModel{Enums: map[string][]string{"Mode": {"fast", "slow"}}, InvalidParameter: ClientCode("InvalidParameterValue"),
		MissingParameter: ClientCode("MissingParameter"), UnknownParameter: ClientCode("UnknownParameter")}
	ec2 := &QueryService{Protocol: ProtocolEC2, SigningName: "ec2", Version: "2016-11-15", XMLNamespace: "http://ec2.amazonaws.com/doc/2016-11-15/",
		Actions: map[string]QueryHandler{
			"Echo": QueryAction(m, func(ctx context.Context, in *qEC2In) (*qEC2Out, error) {
				ids := in.IDs
				for k, v := range in.Attrs {
					ids = append(ids, k+"="+v)
				}
				if in.When != nil {
					ids = append(ids, "day="+in.When.Day)
				}
				return &qEC2Out{Name: in.Name, OK: aws.Bool(false), Tags: in.Tags, Empty: []qTag{}, IDs: ids, Account: CallerFrom(ctx).Account,
					At: wire.At(time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC))}, nil
			}),
			"Nothing": QueryAction(m, func(ctx context.Context, in *qEC2In) (*NoOutput, error) { return &NoOutput{}, nil }),
			"Refuse": QueryAction(m, func(ctx context.Context, in *qEC2In) (*NoOutput, error) {
				return nil, ClientCode("InvalidVpcID.NotFound").Errorf("The vpc ID '%s' does not exist", in.Name)
			}),
			"Fail": QueryAction(m, func(ctx context.Context, in *qEC2In) (*NoOutput, error) { return nil, errors.New("disk on fire") }),
			"Panic": QueryAction(m, func(ctx context.Context, in *qEC2In) (*NoOutput, error) {
				var tags []qTag
				return nil, errors.New(tags[len(in.Name)].Key)
			}),
		}}
	plain := &QueryService{Protocol: ProtocolQuery, SigningName: "plain", Version: "2015-12-01", XMLNamespace: "http://plain.example/doc/2015-12-01/",
		Actions: map[string]QueryHandler{
			"List": QueryAction(QueryModel{InvalidParameter: ClientCode("ValidationError")}, func(ctx context.Context, in *qPlainIn) (*qPlainOut, error) {
				return &qPlainOut{Names: in.Names}, nil
			}),
		}}
	keys := Keys{}
	keys.Add("AKIDTEST", "s3cr3t", "111122223333")
	q := NewQueryEdge(QueryEdgeConfig{Keys: keys, Services: []*QueryService{ec2, plain}, MaxBody: 4096})
	srv := httptest.NewServer(Dispatch(http.NotFoundHandler(), q))
	t.Cleanup(srv.Close)
	return srv
}

type qcall struct {
	service string
	form    url.Values
	secret  string
	get     bool
}

func (c qcall) do(t *testing.T, srv *httptest.Server) (int, string) {
	t.Helper()
	body := c.form.Encode()
	var req *http.Request
	if c.get {
		req, _ = http.NewRequest(http.MethodGet, srv.URL+"/?"+body, nil)
		body = ""
	} else {
		req, _ = http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	}
	if c.secret == "" {
		c.secret = "s3cr3t"
	}
	sum := sha256.Sum256([]byte(body))
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: c.secret},
		req, hex.EncodeToString(sum[:]), c.service, "eu-west-3", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if err := xml.Unmarshal(raw, new(struct{})); err != nil {
		t.Fatalf("answer is not XML: %q", raw)
	}
	return resp.StatusCode, string(raw)
}

func form(kv ...string) url.Values {
	f := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		f.Add(kv[i], kv[i+1])
	}
	return f
}

func TestQueryEC2Answer(t *testing.T) {
	srv := testQueryEdge(t)
	status, body := qcall{service: "ec2", form: form("Action", "Echo", "Version", "2016-11-15", "Name", "a&b",
		"Tag.1.Key", "k1", "Tag.1.Value", "v1", "Tag.2.Key", "k2", "Id.1", "x", "Id.2", "y",
		"Attr.entry.1.Name", "color", "Attr.entry.1.Value", "red", "When.Day", "mon")}.do(t, srv)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	for _, want := range []string{
		`<EchoResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>`,
		`<name>a&amp;b</name><ok>false</ok>`,
		`<tagSet><item><key>k1</key><value>v1</value></item><item><key>k2</key></item></tagSet>`,
		`<emptySet/>`,
		`<idSet><item>x</item><item>y</item><item>color=red</item><item>day=mon</item></idSet>`,
		`<account>111122223333</account><at>2020-01-02T03:04:05.000Z</at></EchoResponse>`,
	} {
		if !strings.Contains(body, want) {
			t.Fatalf("answer lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, "nothingSet") {
		t.Fatalf("a nil list must be left out: %s", body)
	}
	// The form may come in the URL of a GET too; no output is <return>true</return>.
	status, body = qcall{service: "ec2", get: true, form: form("Action", "Nothing", "Version", "2016-11-15", "Name", "n")}.do(t, srv)
	if status != 200 || !strings.Contains(body, "<return>true</return></NothingResponse>") {
		t.Fatalf("%d %s", status, body)
	}
}

func TestQueryEC2Errors(t *testing.T) {
	srv := testQueryEdge(t)
	v := "2016-11-15"
	cases := []struct {
		name   string
		c      qcall
		status int
		code   string
		msg    string
	}{
		{"typed error", qcall{service: "ec2", form: form("Action", "Refuse", "Version", v, "Name", "vpc-1")}, 400, "InvalidVpcID.NotFound", "The vpc ID 'vpc-1' does not exist"},
		{"missing required", qcall{service: "ec2", form: form("Action", "Echo", "Version", v)}, 400, "MissingParameter", "The request must contain the parameter Name"},
		{"bad enum", qcall{service: "ec2", form: form("Action", "Echo", "Version", v, "Name", "a", "Mode", "warp")}, 400, "InvalidParameterValue", `"warp" is not one of [fast, slow]`},
		{"out of range", qcall{service: "ec2", form: form("Action", "Echo", "Version", v, "Name", "a", "Count", "11")}, 400, "InvalidParameterValue", "Count"},
		{"not a number", qcall{service: "ec2", form: form("Action", "Echo", "Version", v, "Name", "a", "Count", "ten")}, 400, "InvalidParameterValue", "Value (ten) for parameter Count is invalid"},
		{"unknown parameter", qcall{service: "ec2", form: form("Action", "Echo", "Version", v, "Name", "a", "Colour", "red")}, 400, "UnknownParameter", "The parameter Colour is not recognized"},
		{"unknown action", qcall{service: "ec2", form: form("Action", "Nope", "Version", v)}, 400, "InvalidAction", "The action Nope is not valid for this web service."},
		{"no action", qcall{service: "ec2", form: form("Version", v)}, 400, "MissingAction", "Action"},
		{"no version", qcall{service: "ec2", form: form("Action", "Echo", "Name", "a")}, 400, "MissingParameter", "Version"},
		{"other version", qcall{service: "ec2", form: form("Action", "Echo", "Version", "2014-01-01", "Name", "a")}, 400, "NoSuchVersion", "2014-01-01"},
		{"wrong secret", qcall{service: "ec2", secret: "nope", form: form("Action", "Echo", "Version", v, "Name", "a")}, 403, "SignatureDoesNotMatch", "signature"},
		{"server fault", qcall{service: "ec2", form: form("Action", "Fail", "Version", v, "Name", "a")}, 500, "InternalError", "server log"},
		{"panic", qcall{service: "ec2", form: form("Action", "Panic", "Version", v, "Name", "a")}, 500, "InternalError", "server log"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := tc.c.do(t, srv)
			var e struct {
				XMLName   xml.Name `xml:"Response"`
				Code      string   `xml:"Errors>Error>Code"`
				Message   string   `xml:"Errors>Error>Message"`
				RequestID string   `xml:"RequestID"`
			}
			if err := xml.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("not EC2's error shape: %v %s", err, body)
			}
			if status != tc.status || e.Code != tc.code || !strings.Contains(e.Message, tc.msg) || e.RequestID == "" {
				t.Fatalf("got %d %+v, want %d %s with %q", status, e, tc.status, tc.code, tc.msg)
			}
			if strings.Contains(body, "disk on fire") {
				t.Fatal("server fault leaked its cause")
			}
		})
	}
}

func TestQueryPlainProtocol(t *testing.T) {
	srv := testQueryEdge(t)
	status, body := qcall{service: "plain", form: form("Action", "List", "Version", "2015-12-01", "Names.member.1", "a", "Names.member.2", "b")}.do(t, srv)
	want := `<ListResponse xmlns="http://plain.example/doc/2015-12-01/"><ListResult><Names><member>a</member><member>b</member></Names></ListResult><ResponseMetadata><RequestId>`
	if status != 200 || !strings.Contains(body, want) {
		t.Fatalf("%d %s", status, body)
	}
	// An empty list is sent as `Names=`: present, hence not missing.
	status, body = qcall{service: "plain", form: form("Action", "List", "Version", "2015-12-01", "Names", "")}.do(t, srv)
	if status != 200 || !strings.Contains(body, "<Names/>") {
		t.Fatalf("%d %s", status, body)
	}
	status, body = qcall{service: "plain", form: form("Action", "List", "Version", "2015-12-01")}.do(t, srv)
	var e struct {
		XMLName xml.Name `xml:"ErrorResponse"`
		Type    string   `xml:"Error>Type"`
		Code    string   `xml:"Error>Code"`
		Message string   `xml:"Error>Message"`
		ReqID   string   `xml:"RequestId"`
	}
	if err := xml.Unmarshal([]byte(body), &e); err != nil || status != 400 || e.Type != "Sender" || e.Code != "ValidationError" || !strings.Contains(e.Message, "Names: is required") || e.ReqID == "" {
		t.Fatalf("%d %+v %v %s", status, e, err, body)
	}
	// A service Gantry does not serve answers in plain Query's shape.
	status, body = qcall{service: "iam", form: form("Action", "ListUsers", "Version", "2010-05-08")}.do(t, srv)
	if status != 400 || !strings.Contains(body, "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code>") {
		t.Fatalf("%d %s", status, body)
	}
}
