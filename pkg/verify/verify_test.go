package verify

import (
	"context"
	"encoding/json"
	"testing"
)

func TestStatusJSON(t *testing.T) {
	in := []Result{{Name: "a", Status: OK}, {Name: "b", Status: Fail, Fix: "x"}, {Name: "c", Status: Unknown}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"name":"a","status":"ok","message":""},{"name":"b","status":"fail","message":"","fix":"x"},{"name":"c","status":"unknown","message":""}]`
	if string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
	var back []Result
	if err := json.Unmarshal(b, &back); err != nil || back[1].Status != Fail || back[2].Status != Unknown {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	if _, err := json.Marshal(Status(7)); err == nil {
		t.Fatal("invalid status marshalled")
	}
	var s Status
	if err := json.Unmarshal([]byte(`"maybe"`), &s); err == nil {
		t.Fatal("unknown status name accepted")
	}
}

func TestRunAllAndOverall(t *testing.T) {
	checks := []Check{
		Func{CheckName: "fine", Fn: func(context.Context) Result { return Ok("fine") }},
		Func{CheckName: "odd", Fn: func(context.Context) Result { return Unknownf("", "cannot tell") }},
		Func{CheckName: "crash", Fn: func(context.Context) Result { panic("boom") }},
		Func{CheckName: "bad", Fn: func(context.Context) Result { return Failf("fix it", "broken") }},
	}
	res := RunAll(context.Background(), checks)
	if res[0].Name != "fine" || res[2].Status != Unknown || res[3].Status != Fail || res[3].Fix != "fix it" {
		t.Fatalf("results %+v", res)
	}
	if Overall(res) != Fail {
		t.Fatalf("overall %v", Overall(res))
	}
	if Overall(res[:3]) != Unknown {
		t.Fatal("unknown not reported")
	}
	if Overall(res[:1]) != OK {
		t.Fatal("ok not reported")
	}
	if Overall(nil) != Unknown {
		t.Fatal("no checks must not be ok")
	}
}
