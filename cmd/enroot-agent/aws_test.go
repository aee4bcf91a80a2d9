package main

import (
	"os"
	"sync"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/fake/aws"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// emulators holds each test's AWS stand-ins: apply ends with a credentials
// refresh, which on a node asks IMDSv2 and ECR. Every run of the binary in a
// test reaches the same emulators, through the SDK's standard variables.
var emulators sync.Map // *testing.T -> []string

type awsStandIns struct {
	imds *aws.IMDS
	ecr  *aws.ECR
	env  []string
}

func awsFor(t *testing.T) *awsStandIns {
	t.Helper()
	if v, ok := emulators.Load(t); ok {
		return v.(*awsStandIns)
	}
	imds := testenv.StartIMDS(t, "123456789012", "us-east-1")
	ecr := testenv.StartECR(t)
	ecr.AccessKey = imds.AccessKey
	a := &awsStandIns{imds: imds, ecr: ecr}
	a.env = append(aws.CleanEnv(os.Environ()), aws.Env(imds, ecr, t.TempDir())...)
	emulators.Store(t, a)
	t.Cleanup(func() { emulators.Delete(t) })
	return a
}
