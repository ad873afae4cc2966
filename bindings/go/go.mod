// SPDX-License-Identifier: MIT
module github.com/pocketflow-throttled/ptl-go

go 1.24
