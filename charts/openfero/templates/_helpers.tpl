{{/* Names, labels and derived settings shared by the templates. */}}

{{- define "openfero.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name; short enough for "<fullname>-headless" and pod names. */}}
{{- define "openfero.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "openfero.headless" -}}
{{- printf "%s-headless" (include "openfero.fullname" .) }}
{{- end }}

{{- define "openfero.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "openfero.selectorLabels" -}}
app.kubernetes.io/name: {{ include "openfero.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "openfero.labels" -}}
helm.sh/chart: {{ include "openfero.chart" . }}
{{ include "openfero.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: openfero
{{- end }}

{{- define "openfero.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "openfero.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "openfero.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "openfero.clusterId" -}}
{{- default (printf "%s.%s" (include "openfero.fullname" .) .Release.Namespace) .Values.cluster.id }}
{{- end }}

{{- define "openfero.bootstrapExpect" -}}
{{- if kindIs "invalid" .Values.cluster.bootstrapExpect }}
{{- .Values.replicaCount }}
{{- else }}
{{- .Values.cluster.bootstrapExpect }}
{{- end }}
{{- end }}

{{/* "own" (release namespace), "list" or "all", from .Values.watchNamespaces. */}}
{{- define "openfero.watchMode" -}}
{{- if not .Values.watchNamespaces }}own
{{- else if has "*" .Values.watchNamespaces }}all
{{- else }}list
{{- end }}
{{- end }}

{{/* Name of the Secret holding the admin token ("" when there is none). */}}
{{- define "openfero.adminSecret" -}}
{{- if .Values.adminToken.existingSecret }}
{{- .Values.adminToken.existingSecret }}
{{- else if .Values.adminToken.value }}
{{- printf "%s-admin-token" (include "openfero.fullname" .) }}
{{- end }}
{{- end }}

{{/* Name of the Secret holding the webhook token ("" when there is none). */}}
{{- define "openfero.webhookSecret" -}}
{{- if .Values.webhookToken.existingSecret }}
{{- .Values.webhookToken.existingSecret }}
{{- else if .Values.webhookToken.value }}
{{- printf "%s-webhook-token" (include "openfero.fullname" .) }}
{{- end }}
{{- end }}

{{/* Stable in-cluster DNS name of pod $(POD_NAME), expanded by the kubelet. */}}
{{- define "openfero.podHost" -}}
{{- printf "$(POD_NAME).%s.$(POD_NAMESPACE).svc.%s" (include "openfero.headless" .) .Values.clusterDomain }}
{{- end }}

{{/* Settings that would break the cluster fail the render with the reason. */}}
{{- define "openfero.validate" -}}
{{- $voters := min (int .Values.replicaCount) (int .Values.cluster.maxVoters) }}
{{- if and .Values.podDisruptionBudget.enabled (gt (int .Values.replicaCount) 1) }}
{{- $safe := div (sub $voters 1) 2 }}
{{- if gt (int .Values.podDisruptionBudget.maxUnavailable) (int $safe) }}
{{- fail (printf "podDisruptionBudget.maxUnavailable=%v would let a drain take %v of %v voters: a Raft quorum survives at most %v" .Values.podDisruptionBudget.maxUnavailable .Values.podDisruptionBudget.maxUnavailable $voters $safe) }}
{{- end }}
{{- end }}
{{- if gt (int (include "openfero.bootstrapExpect" .)) (int .Values.replicaCount) }}
{{- fail (printf "cluster.bootstrapExpect=%v is more than replicaCount=%v: the first cluster would never form" (include "openfero.bootstrapExpect" .) .Values.replicaCount) }}
{{- end }}
{{- if eq (mod (int (include "openfero.bootstrapExpect" .)) 2) 0 }}
{{- fail (printf "cluster.bootstrapExpect (default replicaCount) is %v: the first cluster needs an odd number of voters (1, 3, 5)" (include "openfero.bootstrapExpect" .)) }}
{{- end }}
{{- if and .Values.adminToken.value .Values.adminToken.existingSecret }}
{{- fail "set adminToken.value or adminToken.existingSecret, not both" }}
{{- end }}
{{- if and .Values.webhookToken.value .Values.webhookToken.existingSecret }}
{{- fail "set webhookToken.value or webhookToken.existingSecret, not both" }}
{{- end }}
{{- if and .Values.peerTls.existingSecret .Values.certManager.enabled }}
{{- fail "set peerTls.existingSecret or certManager.enabled, not both" }}
{{- end }}
{{- if and .Values.certManager.enabled (not .Values.certManager.issuerRef.name) }}
{{- fail "certManager.enabled needs certManager.issuerRef.name (an Issuer or ClusterIssuer; a CA issuer dedicated to this cluster)" }}
{{- end }}
{{- if not .Values.insecureCluster }}
{{- if not (include "openfero.peerTlsSecret" .) }}
{{- fail "peer TLS is required: set peerTls.existingSecret or certManager.enabled (without it anyone who reaches a pod's Raft port can command the cluster), or insecureCluster=true for a throwaway test cluster" }}
{{- end }}
{{- if not .Values.gossipKey.existingSecret }}
{{- fail "a gossip key is required: set gossipKey.existingSecret (head -c32 /dev/urandom | base64), or insecureCluster=true for a throwaway test cluster" }}
{{- end }}
{{- end }}
{{- if and (has "*" .Values.watchNamespaces) (gt (len .Values.watchNamespaces) 1) }}
{{- fail "watchNamespaces: \"*\" (every namespace) cannot be combined with names" }}
{{- end }}
{{- end }}

{{/*
The least privileges the code uses (src/kubernetes/), nothing more. tests/it/chart.rs holds
the same list: change both together.
*/}}
{{- define "openfero.rbacRules" -}}
rules:
  # Remediation Jobs: create (exactly once, by the leader), get (adopt one a previous leader
  # created, after a 409), list and watch (the reflectors that follow their outcomes).
  - apiGroups: [batch]
    resources: [jobs]
    verbs: [create, get, list, watch]
  # The pods of a failed Job (label job-name) and the tail of the newest one's log.
  - apiGroups: [""]
    resources: [pods]
    verbs: [list]
  - apiGroups: [""]
    resources: [pods/log]
    verbs: [get]
  # Operarius objects (reflectors) and their status (merge-patched by the leader).
  - apiGroups: [openfero.io]
    resources: [operariuses]
    verbs: [list, watch]
  - apiGroups: [openfero.io]
    resources: [operariuses/status]
    verbs: [patch]
  # Events on operarios, through kube-runtime's Recorder: create, and patch for the series
  # of a repeated event.
  - apiGroups: [events.k8s.io]
    resources: [events]
    verbs: [create, patch]
{{- end }}

{{/* The Secret with the peer certificate: an existing one, or the one cert-manager fills. */}}
{{- define "openfero.peerTlsSecret" -}}
{{- if .Values.peerTls.existingSecret }}
{{- .Values.peerTls.existingSecret }}
{{- else if .Values.certManager.enabled }}
{{- printf "%s-peer-tls" (include "openfero.fullname" .) }}
{{- end }}
{{- end }}

{{/* The SAN pattern peers must match: given, or the pods' headless names with cert-manager. */}}
{{- define "openfero.peerSanPattern" -}}
{{- if .Values.peerTls.sanPattern }}
{{- .Values.peerTls.sanPattern }}
{{- else if .Values.certManager.enabled }}
{{- printf "*.%s.%s.svc*" (include "openfero.headless" .) .Release.Namespace }}
{{- end }}
{{- end }}
