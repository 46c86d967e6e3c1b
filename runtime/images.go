package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/errdefs"
	clog "github.com/containerd/log"
	"github.com/distribution/reference"
)

// normalizeRef parses ref as Kubernetes does ("busybox" is
// "docker.io/library/busybox:latest").
func normalizeRef(ref string) (string, error) {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrInvalidImageName, ref, err)
	}
	return named.String(), nil
}

// PullImage makes ref present according to policy.
func (c *Containerd) PullImage(ctx context.Context, ref string, policy PullPolicy, auth []AuthConfig) (Image, error) {
	ctx = c.nsCtx(ctx)
	name, err := normalizeRef(ref)
	if err != nil {
		return Image{}, err
	}
	if policy != PullAlways {
		img, err := c.client.GetImage(ctx, name)
		switch {
		case err == nil:
			if ok, _ := img.IsUnpacked(ctx, c.snapshotter); ok {
				return c.toImage(ctx, img)
			}
			if policy == PullNever {
				if err := img.Unpack(ctx, c.snapshotter); err != nil {
					return Image{}, fmt.Errorf("unpack %s: %w", name, err)
				}
				return c.toImage(ctx, img)
			}
		case !errdefs.IsNotFound(err):
			return Image{}, fmt.Errorf("look up image %s: %w", name, err)
		case policy == PullNever:
			return Image{}, fmt.Errorf("%w: %s", ErrImageNeverPull, name)
		}
	}
	// containerd's resolver logs through the context's logger; keep its
	// chatter ("fetch failed after status: 404") out of our stderr.
	ctx = clog.WithLogger(ctx, c.quiet)
	s := c.registries.session(auth)
	resolver := docker.NewResolver(docker.ResolverOptions{Hosts: s.hosts})
	img, err := c.client.Pull(ctx, name,
		containerd.WithResolver(resolver),
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(c.snapshotter),
	)
	if err != nil {
		msg := s.registryMessage()
		if msg == "" {
			msg = err.Error()
		} else {
			msg = msg + " (" + err.Error() + ")"
		}
		if errdefs.IsNotFound(err) {
			return Image{}, fmt.Errorf("%w: pull %s: %s", ErrImageNotFound, name, msg)
		}
		return Image{}, fmt.Errorf("%w: pull %s: %s", ErrRegistry, name, msg)
	}
	return c.toImage(ctx, img)
}

// toImage describes a containerd image.
func (c *Containerd) toImage(ctx context.Context, img containerd.Image) (Image, error) {
	out := Image{Ref: img.Name()}
	cfgDesc, err := img.Config(ctx)
	if err != nil {
		return Image{}, fmt.Errorf("image %s config: %w", img.Name(), err)
	}
	out.ID = cfgDesc.Digest.String()
	if named, err := reference.ParseNormalizedNamed(img.Name()); err == nil {
		out.RepoDigests = []string{reference.TrimNamed(named).String() + "@" + img.Target().Digest.String()}
	}
	if size, err := img.Size(ctx); err == nil {
		out.Size = size
	}
	spec, err := img.Spec(ctx)
	if err != nil {
		return Image{}, fmt.Errorf("image %s config: %w", img.Name(), err)
	}
	out.Entrypoint = spec.Config.Entrypoint
	out.Cmd = spec.Config.Cmd
	out.Env = spec.Config.Env
	out.WorkingDir = spec.Config.WorkingDir
	out.User = spec.Config.User
	out.StopSignal = spec.Config.StopSignal
	return out, nil
}

// ListImages lists the images in the namespace (digest-only names that
// import leaves behind are skipped).
func (c *Containerd) ListImages(ctx context.Context) ([]Image, error) {
	ctx = c.nsCtx(ctx)
	imgs, err := c.client.ListImages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var out []Image
	for _, img := range imgs {
		if strings.Contains(img.Name(), "@sha256:") {
			continue
		}
		i, err := c.toImage(ctx, img)
		if err != nil {
			c.log.Warn("skipping image", "image", img.Name(), "err", err)
			continue
		}
		out = append(out, i)
	}
	return out, nil
}

// RemoveImage removes an image by reference, or every name of an image ID.
func (c *Containerd) RemoveImage(ctx context.Context, ref string) error {
	ctx = c.nsCtx(ctx)
	is := c.client.ImageService()
	if strings.HasPrefix(ref, "sha256:") {
		imgs, err := c.client.ListImages(ctx)
		if err != nil {
			return fmt.Errorf("list images: %w", err)
		}
		found := false
		for _, img := range imgs {
			d, err := img.Config(ctx)
			if err != nil || d.Digest.String() != ref {
				continue
			}
			found = true
			if err := is.Delete(ctx, img.Name(), images.SynchronousDelete()); err != nil && !errdefs.IsNotFound(err) {
				return fmt.Errorf("remove image %s: %w", img.Name(), err)
			}
		}
		if !found {
			return fmt.Errorf("%w: image %s", ErrNotFound, ref)
		}
		return nil
	}
	name, err := normalizeRef(ref)
	if err != nil {
		return err
	}
	if err := is.Delete(ctx, name, images.SynchronousDelete()); err != nil {
		if errdefs.IsNotFound(err) {
			return fmt.Errorf("%w: image %s", ErrNotFound, name)
		}
		return fmt.Errorf("remove image %s: %w", name, err)
	}
	return nil
}

// Import loads a tarball (an OCI image layout or a `docker save` archive)
// into the namespace, unpacks it, and returns the images it named.
func (c *Containerd) Import(ctx context.Context, r io.Reader) ([]Image, error) {
	ctx = c.nsCtx(ctx)
	imgs, err := c.client.Import(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	if len(imgs) == 0 {
		return nil, errors.New("import: the archive names no image")
	}
	var out []Image
	for _, im := range imgs {
		img := containerd.NewImage(c.client, im)
		if err := img.Unpack(ctx, c.snapshotter); err != nil {
			return nil, fmt.Errorf("unpack %s: %w", im.Name, err)
		}
		i, err := c.toImage(ctx, img)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, nil
}
