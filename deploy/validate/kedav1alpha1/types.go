// Package kedav1alpha1 is a copy of the parts of KEDA's keda.sh/v1alpha1 API
// types that coderunner's manifests use, so that the tests in
// deploy/validate decode ScaledObjects and TriggerAuthentications strictly
// against KEDA's own field names and types.
//
// Copied from github.com/kedacore/keda/v2 v2.21.0, apis/keda/v1alpha1
// (scaledobject_types.go, scaletriggers_types.go,
// triggerauthentication_types.go), Copyright The KEDA Authors, Apache
// License 2.0: the structs and JSON tags as they are there, without
// methods, defaulting, webhooks or status. Why a copy: importing that
// package pulls in controller-runtime, client-go and
// apiextensions-apiserver, which made this module's first vet and test
// four times as long (5 minutes against 1¼ on a 2-core machine, cold
// caches) for a few dozen fields; the tests passed with both. What is left out (status, the cloud providers' authentication
// fields) fails the strict decode, so using it in a manifest means copying
// it here first, from the KEDA version the cluster runs.
package kedav1alpha1

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ScaledObject is a specification for a ScaledObject resource.
type ScaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ScaledObjectSpec `json:"spec"`
}

// ScaledObjectSpec is the spec for a ScaledObject resource.
type ScaledObjectSpec struct {
	ScaleTargetRef        *ScaleTarget    `json:"scaleTargetRef"`
	PollingInterval       *int32          `json:"pollingInterval,omitempty"`
	InitialCooldownPeriod *int32          `json:"initialCooldownPeriod,omitempty"`
	CooldownPeriod        *int32          `json:"cooldownPeriod,omitempty"`
	IdleReplicaCount      *int32          `json:"idleReplicaCount,omitempty"`
	MinReplicaCount       *int32          `json:"minReplicaCount,omitempty"`
	MaxReplicaCount       *int32          `json:"maxReplicaCount,omitempty"`
	Advanced              *AdvancedConfig `json:"advanced,omitempty"`
	Triggers              []ScaleTriggers `json:"triggers"`
	Fallback              *Fallback       `json:"fallback,omitempty"`
}

// Fallback is the spec for fallback options.
type Fallback struct {
	FailureThreshold int32  `json:"failureThreshold"`
	Replicas         int32  `json:"replicas"`
	Behavior         string `json:"behavior,omitempty"`
}

// AdvancedConfig specifies advanced scaling options.
type AdvancedConfig struct {
	HorizontalPodAutoscalerConfig *HorizontalPodAutoscalerConfig `json:"horizontalPodAutoscalerConfig,omitempty"`
	RestoreToOriginalReplicaCount bool                           `json:"restoreToOriginalReplicaCount,omitempty"`
	ScalingModifiers              ScalingModifiers               `json:"scalingModifiers,omitempty"`
}

// ScalingModifiers describes advanced scaling logic options like formula.
type ScalingModifiers struct {
	Formula          string                         `json:"formula,omitempty"`
	Target           string                         `json:"target,omitempty"`
	ActivationTarget string                         `json:"activationTarget,omitempty"`
	MetricType       autoscalingv2.MetricTargetType `json:"metricType,omitempty"`
}

// HorizontalPodAutoscalerConfig specifies horizontal scale config.
type HorizontalPodAutoscalerConfig struct {
	Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
	Name     string                                         `json:"name,omitempty"`
}

// ScaleTarget holds the reference to the scale target Object.
type ScaleTarget struct {
	Name                   string `json:"name"`
	APIVersion             string `json:"apiVersion,omitempty"`
	Kind                   string `json:"kind,omitempty"`
	EnvSourceContainerName string `json:"envSourceContainerName,omitempty"`
}

// ScaleTriggers reference the scaler that will be used.
type ScaleTriggers struct {
	Type              string                         `json:"type"`
	Name              string                         `json:"name,omitempty"`
	UseCachedMetrics  bool                           `json:"useCachedMetrics,omitempty"`
	Metadata          map[string]string              `json:"metadata"`
	AuthenticationRef *AuthenticationRef             `json:"authenticationRef,omitempty"`
	MetricType        autoscalingv2.MetricTargetType `json:"metricType,omitempty"`
}

// AuthenticationRef points to the TriggerAuthentication or
// ClusterTriggerAuthentication object that is used to authenticate the
// scaler with the environment.
type AuthenticationRef struct {
	Name string `json:"name"`
	Kind string `json:"kind,omitempty"`
}

// TriggerAuthentication defines how a trigger can authenticate.
type TriggerAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec TriggerAuthenticationSpec `json:"spec"`
}

// TriggerAuthenticationSpec defines the various ways to authenticate:
// here the ones that read the cluster's own Secrets, ConfigMaps and
// environment, and pod identity.
type TriggerAuthenticationSpec struct {
	PodIdentity        *AuthPodIdentity         `json:"podIdentity,omitempty"`
	SecretTargetRef    []AuthSecretTargetRef    `json:"secretTargetRef,omitempty"`
	ConfigMapTargetRef []AuthConfigMapTargetRef `json:"configMapTargetRef,omitempty"`
	Env                []AuthEnvironment        `json:"env,omitempty"`
	FilePath           string                   `json:"filePath,omitempty"`
}

// AuthPodIdentity allows users to select the platform native identity
// mechanism.
type AuthPodIdentity struct {
	Provider              string  `json:"provider"`
	IdentityID            *string `json:"identityId,omitempty"`
	IdentityTenantID      *string `json:"identityTenantId,omitempty"`
	IdentityAuthorityHost *string `json:"identityAuthorityHost,omitempty"`
	RoleArn               *string `json:"roleArn,omitempty"`
	ExternalID            *string `json:"externalID,omitempty"`
	IdentityOwner         *string `json:"identityOwner,omitempty"`
}

// AuthConfigMapTargetRef is used to authenticate using a reference to a
// config map.
type AuthConfigMapTargetRef AuthTargetRef

// AuthSecretTargetRef is used to authenticate using a reference to a secret.
type AuthSecretTargetRef AuthTargetRef

// AuthTargetRef is used to authenticate using a reference to a resource.
type AuthTargetRef struct {
	Parameter string `json:"parameter"`
	Name      string `json:"name"`
	Key       string `json:"key"`
}

// AuthEnvironment is used to authenticate using environment variables in
// the destination ScaleTarget spec.
type AuthEnvironment struct {
	Parameter     string `json:"parameter"`
	Name          string `json:"name"`
	ContainerName string `json:"containerName,omitempty"`
}
