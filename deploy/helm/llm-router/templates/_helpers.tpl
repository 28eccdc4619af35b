{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "llm-router.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart unless the release name already holds the chart's. */}}
{{- define "llm-router.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "llm-router.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "llm-router.selectorLabels" -}}
app.kubernetes.io/name: {{ include "llm-router.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "llm-router.labels" -}}
helm.sh/chart: {{ include "llm-router.chart" . }}
{{ include "llm-router.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "llm-router.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "llm-router.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "llm-router.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* The Secret with provider tokens, keys.json and the Redis password. */}}
{{- define "llm-router.secretName" -}}
{{- default (include "llm-router.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* Whether the chart creates that Secret. */}}
{{- define "llm-router.createSecret" -}}
{{- if and (not .Values.secrets.existingSecret) (or .Values.secrets.providerTokens .Values.auth.keysFile (and .Values.redis.password (not .Values.redis.existingSecret))) }}true{{- end }}
{{- end }}

{{/* The Secret holding the Redis password, or nothing when there is none. */}}
{{- define "llm-router.redisSecret" -}}
{{- if .Values.redis.existingSecret }}
{{- .Values.redis.existingSecret }}
{{- else if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else if .Values.redis.password }}
{{- include "llm-router.fullname" . }}
{{- end }}
{{- end }}

{{/* Path of a prefixed endpoint: {prefix}/NAME, or /NAME with prefix none. */}}
{{- define "llm-router.endpoint" -}}
{{- $prefix := .root.Values.router.prefix }}
{{- if eq $prefix "none" }}
{{- printf "/%s" .name }}
{{- else }}
{{- printf "%s/%s" (trimSuffix "/" $prefix) .name }}
{{- end }}
{{- end }}
