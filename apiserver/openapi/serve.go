package openapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	openapiv2 "github.com/google/gnostic-models/openapiv2"
	openapiv3 "github.com/google/gnostic-models/openapiv3"
	"github.com/munnerz/goautoneg"
	"google.golang.org/protobuf/proto"
	"k8s.io/kube-openapi/pkg/handler3"
)

// Media types of the documents. Clients ask for protobuf with "@v1.0";
// upstream answers with ".v1.0", and so do we.
const (
	mimeJSON          = "application/json"
	mimeV2Proto       = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
	mimeV2ProtoAsked  = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
	mimeV3Proto       = "application/com.github.proto-openapi.spec.v3.v1.0+protobuf"
	mimeV3ProtoAsked  = "application/com.github.proto-openapi.spec.v3@v1.0+protobuf"
	immutableCaching  = "public, immutable, max-age=31536000"
	pathV2            = "/openapi/v2"
	pathV3            = "/openapi/v3"
	protoETagSuffix   = "-pb"
	gzipETagSuffix    = "-gz"
	v3DiscoveryPrefix = pathV3 + "/"
)

// lazyBytes is an encoding computed on first use.
type lazyBytes struct {
	once sync.Once
	b    []byte
	err  error
}

func (l *lazyBytes) get(f func() ([]byte, error)) ([]byte, error) {
	l.once.Do(func() { l.b, l.err = f() })
	return l.b, l.err
}

// document is one served document: its JSON, built up front, and its
// protobuf and gzip encodings, built on first request.
type document struct {
	json []byte
	// hash is the upper-case hex SHA-512 of json, as upstream computes
	// it: the ETag and the v3 "hash" query parameter.
	hash    string
	toProto func(json []byte) ([]byte, error) // nil: JSON only

	jsonGz, proto, protoGz lazyBytes
}

func newDocument(v any, toProto func([]byte) ([]byte, error)) (*document, error) {
	var b []byte
	var err error
	if m, ok := v.(json.Marshaler); ok {
		b, err = m.MarshalJSON() // skips encoding/json's re-compaction
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		return nil, fmt.Errorf("encoding JSON: %w", err)
	}
	return &document{json: b, hash: fmt.Sprintf("%X", sha512.Sum512(b)), toProto: toProto}, nil
}

func (d *document) protobuf() ([]byte, error) {
	return d.proto.get(func() ([]byte, error) { return d.toProto(d.json) })
}

func v2ProtoEncoder(b []byte) ([]byte, error) {
	doc, err := openapiv2.ParseDocument(b)
	if err != nil {
		return nil, fmt.Errorf("parsing v2 document: %w", err)
	}
	out, err := proto.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encoding v2 protobuf: %w", err)
	}
	return out, nil
}

func v3ProtoEncoder(b []byte) ([]byte, error) {
	doc, err := openapiv3.ParseDocument(b)
	if err != nil {
		return nil, fmt.Errorf("parsing v3 document: %w", err)
	}
	out, err := proto.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encoding v3 protobuf: %w", err)
	}
	return out, nil
}

func gzipped(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return buf.Bytes(), nil
}

// v3Discovery builds the /openapi/v3 document.
type v3Discovery struct {
	d handler3.OpenAPIV3Discovery
}

func newV3Discovery() *v3Discovery {
	return &v3Discovery{d: handler3.OpenAPIV3Discovery{Paths: map[string]handler3.OpenAPIV3DiscoveryGroupVersion{}}}
}

func (v *v3Discovery) add(key string, d *document) {
	v.d.Paths[key] = handler3.OpenAPIV3DiscoveryGroupVersion{ServerRelativeURL: v3URL(key, d.hash)}
}

func (v *v3Discovery) doc() any { return v.d }

func v3URL(key, hash string) string {
	return v3DiscoveryPrefix + key + "?" + url.Values{"hash": {hash}}.Encode()
}

// ServeHTTP serves GET and HEAD of /openapi/v2 (JSON or protobuf, after
// Accept), /openapi/v3 (the list of group versions) and
// /openapi/v3/api/v1, /openapi/v3/apis/<group>/<version> (JSON or
// protobuf). Responses carry an ETag and honour If-None-Match; they are
// gzipped when the client accepts it. A v3 group version requested with
// the current hash is cacheable for a year; with a stale hash it redirects
// to the current one, as upstream does.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	switch {
	case p == pathV2:
		s.serveDocument(w, r, s.v2, mimeV2Proto, mimeV2ProtoAsked)
	case p == pathV3 || p == v3DiscoveryPrefix:
		w.Header().Set("Cache-Control", "no-cache, private")
		s.serveDocument(w, r, s.v3Root, "", "")
	case strings.HasPrefix(p, v3DiscoveryPrefix):
		key := strings.TrimPrefix(p, v3DiscoveryPrefix)
		d, ok := s.v3[key]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if hash := r.URL.Query().Get("hash"); hash != "" {
			if hash != d.hash {
				http.Redirect(w, r, v3URL(key, d.hash), http.StatusMovedPermanently)
				return
			}
			w.Header().Set("Cache-Control", immutableCaching)
		} else {
			w.Header().Set("Cache-Control", "no-cache, private")
		}
		s.serveDocument(w, r, d, mimeV3Proto, mimeV3ProtoAsked)
	default:
		http.NotFound(w, r)
	}
}

// serveDocument writes d as JSON or, when Accept prefers protoMime (or
// its alias protoAsked), as protobuf. protoMime "" means JSON only.
func (s *Service) serveDocument(w http.ResponseWriter, r *http.Request, d *document, protoMime, protoAsked string) {
	h := w.Header()
	h.Add("Vary", "Accept")
	h.Add("Vary", "Accept-Encoding")

	offers := []string{mimeJSON}
	if protoMime != "" {
		offers = append(offers, protoMime, protoAsked)
	}
	accept := r.Header.Get("Accept")
	if accept == "" {
		accept = "*/*"
	}
	mime := goautoneg.Negotiate(accept, offers)
	body, etag := d.json, d.hash
	switch mime {
	case "":
		http.Error(w, fmt.Sprintf("none of the media types %s is acceptable", strings.Join(offers, ", ")), http.StatusNotAcceptable)
		return
	case protoMime, protoAsked:
		mime = protoMime
		etag += protoETagSuffix
		b, err := d.protobuf()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		body = b
	}

	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		cache := &d.jsonGz
		if mime != mimeJSON {
			cache = &d.protoGz
		}
		plain := body
		gz, err := cache.get(func() ([]byte, error) { return gzipped(plain) })
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		body = gz
		etag += gzipETagSuffix
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Type", mime)
	h.Set("ETag", strconv.Quote(etag))
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		h.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "*" {
			continue
		}
		if q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q="); ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				continue
			}
		}
		return true
	}
	return false
}

// etagMatches reports whether an If-None-Match header names etag.
func etagMatches(header, etag string) bool {
	for part := range strings.SplitSeq(header, ",") {
		part = strings.TrimPrefix(strings.TrimSpace(part), "W/")
		if part == "*" || part == strconv.Quote(etag) {
			return true
		}
	}
	return false
}
