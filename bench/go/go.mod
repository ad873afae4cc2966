// SPDX-License-Identifier: MIT
module github.com/pocketflow-throttled/ptl-bench-go

go 1.26.0

require github.com/pocketflow-throttled/pocketflow-throttled/bindings/go v0.0.0

require golang.org/x/time v0.16.0

replace github.com/pocketflow-throttled/pocketflow-throttled/bindings/go => ../../bindings/go
