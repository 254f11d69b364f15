{{- /*
  Render-time checks of what the schema cannot express: settings that must be present, secrets
  that must come from existing Secrets, and wiring between imagine: and jupyterhub: values.
  Each failure names the value to fix. Checks of jupyterhub: values run only when Z2JH is part
  of this release (jupyterhub.enabled).
*/}}

{{- define "imagine.fail" -}}
{{- fail (printf "\n\njupyterhub-imagine: %s\n(see docs/helm.md)" .) }}
{{- end }}

{{- /* A Z2JH "list or dict" value as a list. */}}
{{- define "imagine.asList" -}}
{{- if kindIs "slice" . }}{{ toYaml . }}
{{- else if kindIs "map" . }}{{ toYaml (values .) }}
{{- else }}[]
{{- end }}
{{- end }}

{{- define "imagine.checks" -}}
{{- $z := .Values.jupyterhub | default dict }}
{{- include "imagine.checks.cullerPort" . }}
{{- if not (eq (toString $z.enabled) "false") }}
{{- include "imagine.checks.image" $z }}
{{- include "imagine.checks.secrets" $z }}
{{- include "imagine.checks.hubConfig" $z }}
{{- include "imagine.checks.cvmfs" (list .Values.imagine.cvmfs $z) }}
{{- end }}
{{- end }}

{{- define "imagine.checks.image" -}}
{{- $image := (.hub | default dict).image | default dict }}
{{- if or (not $image.name) (eq (toString $image.name) "quay.io/jupyterhub/k8s-hub") }}
{{- include "imagine.fail" "jupyterhub.hub.image.name is required: a hub image with jupyterhub-imagine installed (build it from helm/images/hub/Dockerfile); Z2JH's own image lacks the bundle." }}
{{- end }}
{{- if not $image.tag }}
{{- include "imagine.fail" "jupyterhub.hub.image.tag is required: the tag of your hub image." }}
{{- end }}
{{- end }}

{{- define "imagine.checks.secrets" -}}
{{- $hub := .hub | default dict }}
{{- $config := $hub.config | default dict }}
{{- with ($config.CryptKeeper | default dict).keys }}
{{- include "imagine.fail" "jupyterhub.hub.config.CryptKeeper.keys must not be set in values: leave it out (Z2JH generates and keeps one) or put it in the Secret named by jupyterhub.hub.existingSecret." }}
{{- end }}
{{- range $name, $service := ($hub.services | default dict) }}
{{- if (($service | default dict).apiToken) }}
{{- include "imagine.fail" (printf "jupyterhub.hub.services.%s.apiToken must not be set in values: leave it out (Z2JH generates and keeps one) or put it under the key hub.services.%s.apiToken of the Secret named by jupyterhub.hub.existingSecret." $name $name) }}
{{- end }}
{{- end }}
{{- range $class := list "ImagineOAuthenticator" "GenericOAuthenticator" "OAuthenticator" }}
{{- if (index $config $class | default dict).client_secret }}
{{- include "imagine.fail" (printf "jupyterhub.hub.config.%s.client_secret must not be set in values: reference an existing Secret in jupyterhub.hub.extraEnv.OAUTH_CLIENT_SECRET.valueFrom.secretKeyRef instead." $class) }}
{{- end }}
{{- end }}
{{- $ref := dict }}
{{- $env := $hub.extraEnv }}
{{- if kindIs "map" $env }}
{{- with index $env "OAUTH_CLIENT_SECRET" }}
{{- if kindIs "map" . }}{{ $ref = (.valueFrom | default dict).secretKeyRef | default dict }}{{ end }}
{{- end }}
{{- else if kindIs "slice" $env }}
{{- range $env }}
{{- if eq (toString .name) "OAUTH_CLIENT_SECRET" }}
{{- $ref = (.valueFrom | default dict).secretKeyRef | default dict }}
{{- end }}
{{- end }}
{{- end }}
{{- if not $ref.name }}
{{- include "imagine.fail" "jupyterhub.hub.extraEnv.OAUTH_CLIENT_SECRET.valueFrom.secretKeyRef.name is required: the name of an existing Secret holding the OAuth client secret (under the key in secretKeyRef.key, default client-secret). A plain value is refused: secrets stay out of values." }}
{{- end }}
{{- if not $ref.key }}
{{- include "imagine.fail" "jupyterhub.hub.extraEnv.OAUTH_CLIENT_SECRET.valueFrom.secretKeyRef.key is required: the key of the client secret in that Secret." }}
{{- end }}
{{- end }}

{{- define "imagine.checks.cullerPort" -}}
{{- if .Values.imagine.culler.endpoints.networkPolicy }}
{{- $port := include "imagine.cullerPort" . }}
{{- if not (regexMatch "^[0-9]+$" $port) }}
{{- include "imagine.fail" "jupyterhub.hub.service.extraPorts needs one entry named imagine-culler with the culler's port (e.g. {name: imagine-culler, port: 10101}); or set imagine.culler.endpoints.networkPolicy to false." }}
{{- end }}
{{- end }}
{{- end }}

{{- /* Where the culler reaches the proxy from inside the cluster (see startup.z2jh_proxy_url). */}}
{{- define "imagine.checks.proxyUrl" -}}
{{- $https := (.proxy | default dict).https | default dict }}
{{- $culler := index ((.hub | default dict).services | default dict) "imagine-culler" }}
{{- if and $culler $https.enabled (has (toString $https.type) (list "manual" "secret")) }}
{{- if not (index ($culler.environment | default dict) "JUPYTERHUB_IMAGINE_SERVERS_URL") }}
{{- include "imagine.fail" (printf "jupyterhub.proxy.https.type is %s: the proxy speaks TLS for your public host name only, so set jupyterhub.hub.services.imagine-culler.environment.JUPYTERHUB_IMAGINE_SERVERS_URL to a URL of the proxy that the hub pod can reach." (toString $https.type)) }}
{{- end }}
{{- end }}
{{- end }}

{{- define "imagine.checks.hubConfig" -}}
{{- include "imagine.checks.proxyUrl" . }}
{{- $hub := .hub | default dict }}
{{- $config := $hub.config | default dict }}
{{- $app := $config.JupyterHub | default dict }}
{{- if eq (toString $app.authenticator_class) "imagine" }}
{{- if not ($config.ImagineOAuthenticator | default dict).client_id }}
{{- include "imagine.fail" "jupyterhub.hub.config.ImagineOAuthenticator.client_id is required: the OAuth client id registered at your identity provider." }}
{{- end }}
{{- include "imagine.checks.authRules" ($config.ImagineOAuthenticator | default dict) }}
{{- end }}
{{- if and (.cull | default dict).enabled (hasKey ($hub.services | default dict) "imagine-culler") }}
{{- include "imagine.fail" "jupyterhub.cull.enabled must be false: the imagine-culler service (jupyterhub.hub.services.imagine-culler) already culls servers without GPUs with jupyterhub-idle-culler's loop; two cullers would race." }}
{{- end }}
{{- if eq (toString $app.spawner_class) "imagine" }}
{{- $profiles := (.singleuser | default dict).profileList }}
{{- $profiles = ($config.KubeSpawner | default dict).profile_list | default $profiles }}
{{- $profiles = ($config.ImagineKubeSpawner | default dict).profile_list | default $profiles }}
{{- if not $profiles }}
{{- include "imagine.fail" "jupyterhub.singleuser.profileList is empty: ImagineKubeSpawner starts servers from profiles only; list at least one (see helm/examples/)." }}
{{- end }}
{{- end }}
{{- end }}

{{- /* Rules written in oauthenticator's settings, or in the retired kc-role: namespace (the hub
  refuses them at start-up too, with the full advice; docs/migration.md). */}}
{{- define "imagine.checks.authRules" -}}
{{- $auth := . }}
{{- range $setting := list "allowed_groups" "admin_groups" }}
{{- range $name := (index $auth $setting) | default list }}
{{- $n := toString $name }}
{{- if or (hasPrefix "urn:" (lower $n)) (contains ":role=" $n) (regexMatch "^(egi|eduteams|umbrellaid|kc|kc-realm|kc-client|kc-role):" $n) }}
{{- include "imagine.fail" (printf "jupyterhub.hub.config.ImagineOAuthenticator.%s: %q is a rule; %s keeps oauthenticator's meaning (exact hub group names): move it to %s (docs/migration.md)." $setting $n $setting (replace "_groups" "_rules" $setting)) }}
{{- end }}
{{- end }}
{{- end }}
{{- $rules := concat ($auth.allowed_rules | default list) ($auth.admin_rules | default list) }}
{{- range $caps := values ($auth.capabilities | default dict) }}
{{- $rules = concat $rules ($caps | default list) }}
{{- end }}
{{- range $rules }}
{{- if hasPrefix "kc-role:" (toString .) }}
{{- include "imagine.fail" (printf "jupyterhub.hub.config.ImagineOAuthenticator: %q uses the retired kc-role: namespace; write kc-realm:<role> for a realm role or kc-client:<client>:<role> for a client role (docs/migration.md)." (toString .)) }}
{{- end }}
{{- end }}
{{- end }}

{{- define "imagine.checks.cvmfs" -}}
{{- $cvmfs := index . 0 }}
{{- $z := index . 1 }}
{{- if $cvmfs.enabled }}
{{- $storage := ($z.singleuser | default dict).storage | default dict }}
{{- $claim := $cvmfs.pvc.name }}
{{- $volume := "" }}
{{- range (include "imagine.asList" $storage.extraVolumes | fromYamlArray) }}
{{- if eq (toString ((.persistentVolumeClaim | default dict).claimName)) $claim }}
{{- $volume = .name }}
{{- if not .persistentVolumeClaim.readOnly }}
{{- include "imagine.fail" (printf "jupyterhub.singleuser.storage.extraVolumes: the volume %s of PVC %s needs persistentVolumeClaim.readOnly: true (CVMFS is read-only)." (toString .name) $claim) }}
{{- end }}
{{- end }}
{{- end }}
{{- if not $volume }}
{{- include "imagine.fail" (printf "imagine.cvmfs.enabled is true but jupyterhub.singleuser.storage.extraVolumes has no volume of the PVC %s; add {name: cvmfs, persistentVolumeClaim: {claimName: %s, readOnly: true}}." $claim $claim) }}
{{- end }}
{{- $mounted := false }}
{{- range (include "imagine.asList" $storage.extraVolumeMounts | fromYamlArray) }}
{{- if and (eq (toString .name) $volume) (eq (toString .mountPath) "/cvmfs") }}
{{- $mounted = true }}
{{- if or (ne (toString .mountPropagation) "HostToContainer") (not .readOnly) }}
{{- include "imagine.fail" (printf "jupyterhub.singleuser.storage.extraVolumeMounts: the /cvmfs mount of volume %s needs readOnly: true and mountPropagation: HostToContainer (repositories are mounted on the node on first access)." $volume) }}
{{- end }}
{{- end }}
{{- end }}
{{- if not $mounted }}
{{- include "imagine.fail" (printf "imagine.cvmfs.enabled is true but jupyterhub.singleuser.storage.extraVolumeMounts does not mount volume %s at /cvmfs; add {name: %s, mountPath: /cvmfs, readOnly: true, mountPropagation: HostToContainer}." $volume $volume) }}
{{- end }}
{{- end }}
{{- end }}
