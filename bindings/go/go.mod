module delegate/bindings/go

go 1.19
