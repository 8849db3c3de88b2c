{{/* Image tag shared by every kvcsi image: image.tag, else the chart's appVersion. */}}
{{- define "kvcsi.tag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{/* A kvcsi image reference: kvcsi.image (list $ "name"). */}}
{{- define "kvcsi.image" -}}
{{- $root := index . 0 -}}
{{- printf "%s/%s:%s" (trimSuffix "/" $root.Values.image.registry) (index . 1) (include "kvcsi.tag" $root) -}}
{{- end -}}

{{- define "kvcsi.registrarImage" -}}
{{- if .Values.sidecars.official -}}
{{- .Values.sidecars.officialRegistrarImage -}}
{{- else -}}
{{- include "kvcsi.image" (list . "csi-node-driver-registrar") -}}
{{- end -}}
{{- end -}}

{{- define "kvcsi.livenessProbeImage" -}}
{{- if .Values.sidecars.official -}}
{{- .Values.sidecars.officialLivenessProbeImage -}}
{{- else -}}
{{- include "kvcsi.image" (list . "livenessprobe") -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries; the add-on manager finds its objects by them. */}}
{{- define "kvcsi.labels" -}}
app.kubernetes.io/part-of: kvcsi
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ include "kvcsi.tag" . | quote }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Validation that fails the render with a message naming the value and the fix. */}}
{{- define "kvcsi.validate" -}}
{{- if not (regexMatch "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$" (toString .Values.rotationPollInterval)) -}}
{{- fail (printf "rotationPollInterval %q is not a Go duration: use a value such as 2m, 30s or 1h30m" (toString .Values.rotationPollInterval)) -}}
{{- end -}}
{{- if not (regexMatch "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$" (toString .Values.driver.providerHealthCheckInterval)) -}}
{{- fail (printf "driver.providerHealthCheckInterval %q is not a Go duration: use a value such as 2m" (toString .Values.driver.providerHealthCheckInterval)) -}}
{{- end -}}
{{- range .Values.provider.hostAliases -}}
{{- if or (not (kindIs "map" .)) (not (hasKey . "ip")) (not (hasKey . "hostnames")) (not .ip) (not .hostnames) -}}
{{- fail "provider.hostAliases: every entry needs ip and a non-empty hostnames list, e.g. {ip: 10.96.0.50, hostnames: [myvault.vault.azure.net]}" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.provider.caBundle (not (contains "-----BEGIN CERTIFICATE-----" .Values.provider.caBundle)) -}}
{{- fail "provider.caBundle must be PEM text containing at least one -----BEGIN CERTIFICATE----- block (use --set-file provider.caBundle=ca.crt)" -}}
{{- end -}}
{{- end -}}
