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
  The hub's ServiceAccount, named the way Z2JH names it: hub.serviceAccount.name when set,
  else "hub" behind Z2JH's fullname (fullnameOverride; "" by default, so plain "hub").
  Computed here rather than through Z2JH's templates so that it also works without them.
*/}}
{{- define "imagine.hubServiceAccount" -}}
{{- $z := .Values.jupyterhub | default dict }}
{{- $hub := $z.hub | default dict }}
{{- $sa := $hub.serviceAccount | default dict }}
{{- if .Values.imagine.hub.serviceAccountName }}
{{- .Values.imagine.hub.serviceAccountName }}
{{- else if $sa.name }}
{{- $sa.name }}
{{- else }}
{{- $override := $z.fullnameOverride }}
{{- $prefix := "" }}
{{- if eq (typeOf $override) "string" }}
{{- $prefix = $override }}
{{- else }}
{{- $name := $z.nameOverride | default "jupyterhub" }}
{{- $prefix = ternary .Release.Name (printf "%s-%s" .Release.Name $name) (contains $name .Release.Name) }}
{{- end }}
{{- if $prefix }}{{ $prefix }}-{{ end }}hub
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
