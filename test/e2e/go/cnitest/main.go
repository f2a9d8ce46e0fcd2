// libcni 1.1.2 (Debian) knows spec versions up to 1.0.0 and has no GC/STATUS: with cniVersion "1.1.0" it still runs the plugin, then fails to parse a 1.1.0 result ("unsupported CNI result version").

// Command cnitest is the e2e tests' container runtime: a cnitool-like CLI on libcni, the
// library containerd and CRI-O use, so the tests see plugins exactly as a runtime does
// (config injection, result parsing, the result cache, prevResult on CHECK/DEL).
//
// Unlike cnitool it takes everything as flags and writes one JSON object on stdout:
// the ADD result, {"supportedVersions": [...]} for version, {} for check/del, or
// {"error": {"code", "msg", "details", "text"}} with exit status 1.
//
// Built offline against Debian's sources (see test/helpers/libcni.ts):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o ../bin/cnitest .
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

const usage = `usage: cnitest <add|check|del|version> --conf FILE --netns PATH --ifname NAME
       --container-id ID --cni-path DIR[:DIR] [--cache-dir DIR] [--args 'K=V;K2=V2']
       [--cap-args JSON] [--type PLUGIN (version only)]`

type options struct {
	conf, netns, ifname, containerID, cniPath, cacheDir, args, capArgs, pluginType string
}

func main() {
	if len(os.Args) < 2 {
		fail(errors.New(usage))
	}
	verb := os.Args[1]
	var o options
	fs := flag.NewFlagSet("cnitest", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.StringVar(&o.conf, "conf", "", "network config: a .conf or .conflist file")
	fs.StringVar(&o.netns, "netns", "", "network namespace path (may be empty for del)")
	fs.StringVar(&o.ifname, "ifname", "eth0", "interface name in the namespace")
	fs.StringVar(&o.containerID, "container-id", "", "container id")
	fs.StringVar(&o.cniPath, "cni-path", "", "plugin directories, colon-separated")
	fs.StringVar(&o.cacheDir, "cache-dir", "", "libcni cache dir (default /var/lib/cni)")
	fs.StringVar(&o.args, "args", "", "CNI_ARGS, K=V;K2=V2")
	fs.StringVar(&o.capArgs, "cap-args", "", "capability args, a JSON object")
	fs.StringVar(&o.pluginType, "type", "", "plugin type (version only)")
	if err := fs.Parse(os.Args[2:]); err != nil {
		fail(fmt.Errorf("%v\n%s", err, usage))
	}
	if fs.NArg() > 0 {
		fail(fmt.Errorf("unexpected arguments %q\n%s", fs.Args(), usage))
	}

	out, err := run(context.Background(), verb, &o)
	if err != nil {
		fail(err)
	}
	emit(out)
}

func run(ctx context.Context, verb string, o *options) (interface{}, error) {
	if o.cniPath == "" {
		return nil, errors.New("--cni-path is required")
	}
	// The cache dir is explicit so tests never need (or touch) /var/lib/cni.
	cni := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(o.cniPath), o.cacheDir, nil)

	if verb == "version" {
		if o.pluginType == "" {
			return nil, errors.New("version needs --type")
		}
		info, err := cni.GetVersionInfo(ctx, o.pluginType)
		if err != nil {
			return nil, err
		}
		return map[string][]string{"supportedVersions": info.SupportedVersions()}, nil
	}

	list, err := loadList(o.conf)
	if err != nil {
		return nil, err
	}
	rt, err := runtimeConf(o)
	if err != nil {
		return nil, err
	}
	switch verb {
	case "add":
		// Printed as libcni returns it: in the version the plugin answered with, which the spec
		// says must be the config's cniVersion. Not converted, so a plugin that answers in
		// another version shows up in the test rather than being papered over here.
		return cni.AddNetworkList(ctx, list, rt)
	case "check":
		return struct{}{}, cni.CheckNetworkList(ctx, list, rt)
	case "del":
		return struct{}{}, cni.DelNetworkList(ctx, list, rt)
	default:
		return nil, fmt.Errorf("unknown verb %q\n%s", verb, usage)
	}
}

// loadList reads a .conflist, or a single .conf wrapped into a one-plugin list, which is
// what containerd (go-cni) and CRI-O (ocicni) do with .conf files.
func loadList(file string) (*libcni.NetworkConfigList, error) {
	if file == "" {
		return nil, errors.New("--conf is required")
	}
	if strings.HasSuffix(file, ".conflist") {
		return libcni.ConfListFromFile(file)
	}
	conf, err := libcni.ConfFromFile(file)
	if err != nil {
		return nil, err
	}
	return libcni.ConfListFromConf(conf)
}

func runtimeConf(o *options) (*libcni.RuntimeConf, error) {
	rt := &libcni.RuntimeConf{ContainerID: o.containerID, NetNS: o.netns, IfName: o.ifname}
	if o.args != "" {
		for _, kv := range strings.Split(o.args, ";") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("--args: %q is not K=V", kv)
			}
			rt.Args = append(rt.Args, [2]string{k, v})
		}
	}
	if o.capArgs != "" {
		if err := json.Unmarshal([]byte(o.capArgs), &rt.CapabilityArgs); err != nil {
			return nil, fmt.Errorf("--cap-args: %w", err)
		}
	}
	return rt, nil
}

type errorBody struct {
	Code    uint   `json:"code"`
	Msg     string `json:"msg"`
	Details string `json:"details"`
	// Text is err.Error() in full: libcni wraps plugin errors with context such as
	// `plugin type="macvlan" failed (add): ...` that Msg (the plugin's own message) lacks.
	Text string `json:"text"`
}

// fail prints the error as JSON and exits 1. A *types.Error anywhere in the chain (the
// plugin's own CNI error, or libcni's for an unparsable plugin answer) gives code, msg and
// details; any other error (libcni's own checks, a missing plugin) is code 0.
func fail(err error) {
	body := errorBody{Msg: err.Error(), Text: err.Error()}
	var cniErr *types.Error
	if errors.As(err, &cniErr) {
		body.Code, body.Msg, body.Details = cniErr.Code, cniErr.Msg, cniErr.Details
	}
	emit(map[string]errorBody{"error": body})
	os.Exit(1)
}

func emit(v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(fmt.Sprintf(`{"error":{"code":0,"msg":%q,"details":"","text":%q}}`, err, err))
		os.Stdout.Write(append(b, '\n'))
		os.Exit(1)
	}
	os.Stdout.Write(append(b, '\n'))
}
