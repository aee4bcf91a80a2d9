package flock

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestFileWaitsForTheHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".lock")
	unlock, err := File(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := File(ctx, path); !errors.Is(err, context.DeadlineExceeded) || err != ctx.Err() {
		t.Fatalf("second locker while held: %v, want ctx.Err() itself", err)
	}
	got := make(chan error, 1)
	go func() {
		u, err := File(context.Background(), path)
		if err == nil {
			u()
		}
		got <- err
	}()
	unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter never got the released lock")
	}
}

func TestDirAndRefusals(t *testing.T) {
	dir := t.TempDir()
	unlock, err := Dir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if _, err := Dir(context.Background(), filepath.Join(dir, "missing")); err == nil {
		t.Fatal("locked a missing directory")
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(filepath.Join(dir, "target"), link); err != nil {
		t.Fatal(err)
	}
	if _, err := File(context.Background(), link); err == nil {
		t.Fatal("followed a symlink to the lock file")
	}
}
