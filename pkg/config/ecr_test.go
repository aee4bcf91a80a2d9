package config

import "testing"

func TestParseRegistry(t *testing.T) {
	good := map[string]Registry{
		"123456789012.dkr.ecr.us-east-1.amazonaws.com":                {Account: "123456789012", Region: "us-east-1", Suffix: "amazonaws.com"},
		"123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com":       {Account: "123456789012", Region: "us-gov-west-1", FIPS: true, Suffix: "amazonaws.com"},
		"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn":            {Account: "123456789012", Region: "cn-north-1", Suffix: "amazonaws.com.cn"},
		"123456789012.dkr-ecr.us-west-2.on.aws":                       {Account: "123456789012", Region: "us-west-2", DualStack: true, Suffix: "on.aws"},
		"123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu":            {Account: "123456789012", Region: "eusc-de-east-1", Suffix: "amazonaws.eu"},
		"123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov":               {Account: "123456789012", Region: "us-iso-east-1", Suffix: "c2s.ic.gov"},
		"123456789012.DKR.ECR.US-EAST-1.AMAZONAWS.COM":                {Account: "123456789012", Region: "us-east-1", Suffix: "amazonaws.com"},
		"123456789012.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn": {Account: "123456789012", Region: "cn-north-1", DualStack: true, Suffix: "on.amazonwebservices.com.cn"},
		"123456789012.dkr-ecr-fips.us-east-1.on.aws":                  {Account: "123456789012", Region: "us-east-1", FIPS: true, DualStack: true, Suffix: "on.aws"},
	}
	for host, want := range good {
		got, err := ParseRegistry(host)
		want.Host = got.Host
		if err != nil || got != want {
			t.Errorf("%s: got %+v, %v; want %+v", host, got, err, want)
		}
	}
	bad := []string{
		"",
		"12345678901.dkr.ecr.us-east-1.amazonaws.com",
		"1234567890123.dkr.ecr.us-east-1.amazonaws.com",
		"123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
		"evil123456789012.dkr.ecr.us-east-1.amazonaws.com",
		"123456789012.dkr.ecr.us-east-1.amazonaws.co",
		"https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
		"123456789012.dkr.ecr.us-east-1.amazonaws.com:443",
		"123456789012.dkr.ecr.us-east-1.amazonaws.com/repo",
		"123456789012.dkr.ecr..amazonaws.com",
		"nvcr.io",
		"123456789012.dkr-ecr.us-east-1.amazonaws.com",
		"123456789012.dkr.ecr.us-west-2.on.aws",
		"123456789012.dkr.ecr.us-east-1.amazonaws.com.",
		"123456789012.dkr.ecr.us-east-1.amazonaws.com\nmachine evil",
		"127.0.0.1",
		"public.ecr.aws",
	}
	for _, host := range bad {
		if r, err := ParseRegistry(host); err == nil {
			t.Errorf("%q accepted as %+v", host, r)
		}
	}
}

func TestNodeRegistry(t *testing.T) {
	for region, want := range map[string]string{
		"us-east-1":      "123456789012.dkr.ecr.us-east-1.amazonaws.com",
		"cn-northwest-1": "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn",
		"us-iso-east-1":  "123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov",
		"us-isob-east-1": "123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov",
	} {
		r, err := NodeRegistry("123456789012", region)
		if err != nil || r.Host != want {
			t.Errorf("%s: %q, %v; want %q", region, r.Host, err, want)
		}
	}
	if _, err := NodeRegistry("12345", "us-east-1"); err == nil {
		t.Error("a short account was accepted")
	}
}
