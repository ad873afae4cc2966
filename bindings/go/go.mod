module github.com/pocketflow-throttled/ptl-go

go 1.24
