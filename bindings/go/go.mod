// SPDX-License-Identifier: MIT
module github.com/pocketflow-throttled/pocketflow-throttled/bindings/go

go 1.24
