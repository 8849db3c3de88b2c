
{{/* A YAML/CEL list of quoted strings: "a", "b" (sync controller policies). */}}
{{- define "kvcsi.quotedList" -}}
{{- $out := list -}}
{{- range . -}}
{{- $out = append $out (printf "'%s'" .) -}}
{{- end -}}
{{- join ", " $out -}}
{{- end -}}
