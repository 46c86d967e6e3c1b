package runtime

import "errors"

// Error categories; errors returned by a Runtime wrap one of these.
var (
	ErrNotFound         = errors.New("not found")
	ErrImageNotFound    = errors.New("image not found")
	ErrImageNeverPull   = errors.New("image not present and pull policy is Never")
	ErrInvalidImageName = errors.New("invalid image name")
	ErrRegistry         = errors.New("registry error")
)
