package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestEtcdServesOnLoopbackUntilCanceled runs `skiff etcd` with its data
// dir and ports from a --config file, writes and reads a key through its
// loopback client URL, and stops it by canceling its context.
func TestEtcdServesOnLoopbackUntilCanceled(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "etcd")
	clientPort, peerPort := freePort(t), freePort(t)
	config := writeFile(t, "etcd.yaml", fmt.Sprintf("data-dir: %s\nclient-port: %d\npeer-port: %d\nquota-backend-bytes: 104857600\n", dataDir, clientPort, peerPort))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRootCommand()
	root.SetArgs([]string{"etcd", "--config", config, "--name", "member-1"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	endpoint := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	// The member is ready when a write goes through.
	deadline := time.Now().Add(30 * time.Second)
	for {
		rctx, rcancel := context.WithTimeout(ctx, time.Second)
		_, err = client.Put(rctx, "/skiff/test", "hello")
		rcancel()
		if err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("skiff etcd stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write to %s within 30s: %v", endpoint, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := client.Get(ctx, "/skiff/test")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "hello" {
		t.Errorf("read back %v", resp.Kvs)
	}
	members, err := client.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(members.Members) != 1 || members.Members[0].Name != "member-1" ||
		len(members.Members[0].ClientURLs) != 1 || members.Members[0].ClientURLs[0] != endpoint {
		t.Errorf("members %v, want member-1 at %s", members.Members, endpoint)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "member", "wal")); err != nil {
		t.Errorf("no WAL in the data dir from the config file: %v", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("skiff etcd returned %v after cancel, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("skiff etcd still running 20s after cancel")
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(clientPort), time.Second); err == nil {
		c.Close()
		t.Errorf("client port %d still open after stop", clientPort)
	}
}

func TestBadEtcdFlagsNameTheFlag(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a client port out of range", []string{"etcd", "--data-dir", t.TempDir(), "--client-port", "70000"}, "--client-port: 70000 is not a port"},
		{"a negative peer port", []string{"etcd", "--data-dir", t.TempDir(), "--peer-port", "-1"}, "--peer-port: -1 is not a port"},
		{"a negative quota", []string{"etcd", "--data-dir", t.TempDir(), "--quota-backend-bytes", "-1"}, "--quota-backend-bytes: -1 is negative"},
		{"an argument", []string{"etcd", "member-2"}, `unknown command "member-2"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := newRootCommand()
			root.SetArgs(tc.args)
			err := root.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %s", err, tc.want)
			}
		})
	}
}
