{{- /* Names, labels and the hub identity shared by this chart's templates. */}}

{{- define "imagine.fullname" -}}
{{- printf "%s-imagine" .Release.Name | trunc 52 | trimSuffix "-" }}
{{- end }}

{{- /* Cluster-scoped objects need the namespace in their name to stay unique. */}}
{{- define "imagine.clusterName" -}}
{{- printf "%s-%s-imagine" .Release.Namespace .Release.Name | trunc 200 | trimSuffix "-" }}
{{- end }}

{{- define "imagine.labels" -}}
app.kubernetes.io/name: jupyterhub-imagine
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | quote }}
{{- end }}

{{- /*
  Z2JH's name prefix: "" by default (objects are plain "hub", "proxy-public"), "<override>-" with
  jupyterhub.fullnameOverride, "<release>-<name>-" when fullnameOverride is null. Z2JH's own rule
  (jupyterhub.fullname.dash), computed here so that it also works without Z2JH rendered.
*/}}
{{- define "imagine.z2jhPrefix" -}}
{{- $z := .Values.jupyterhub | default dict }}
{{- $override := $z.fullnameOverride }}
{{- $prefix := "" }}
{{- if eq (typeOf $override) "string" }}
{{- $prefix = $override }}
{{- else }}
{{- $name := $z.nameOverride | default "jupyterhub" }}
{{- $prefix = ternary .Release.Name (printf "%s-%s" .Release.Name $name) (contains $name .Release.Name) }}
{{- end }}
{{- if $prefix }}{{ $prefix }}-{{ end }}
{{- end }}

{{- /*
  The hub's ServiceAccount, named the way Z2JH names it: hub.serviceAccount.name when set, else
  "<prefix>hub" when Z2JH creates it, else "default" (the namespace's, which the hub pod then
  runs as).
*/}}
{{- define "imagine.hubServiceAccount" -}}
{{- $z := .Values.jupyterhub | default dict }}
{{- $sa := ($z.hub | default dict).serviceAccount | default dict }}
{{- if .Values.imagine.hub.serviceAccountName }}
{{- .Values.imagine.hub.serviceAccountName }}
{{- else if $sa.name }}
{{- $sa.name }}
{{- else if eq (toString $sa.create) "false" }}
{{- "default" }}
{{- else }}
{{- include "imagine.z2jhPrefix" . }}hub
{{- end }}
{{- end }}

{{- /* The culler's port: jupyterhub.hub.service.extraPorts entry imagine-culler (checked). */}}
{{- define "imagine.cullerPort" -}}
{{- $service := (((.Values.jupyterhub | default dict).hub | default dict).service | default dict) }}
{{- range ($service.extraPorts | default list) }}
{{- if eq (toString .name) "imagine-culler" }}{{ .targetPort | default .port }}{{ end }}
{{- end }}
{{- end }}

{{- define "imagine.proxyPodLabels" -}}
{{- $labels := merge (dict "release" .Release.Name) .Values.imagine.culler.endpoints.proxyPodLabels }}
{{- toYaml $labels }}
{{- end }}

{{- define "imagine.hubPodLabels" -}}
{{- $labels := merge (dict "release" .Release.Name) .Values.imagine.hub.podLabels }}
{{- toYaml $labels }}
{{- end }}
