package executor

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"
)

// dockerDefaultProfile is Docker Engine v20.10.24's default seccomp profile,
// verbatim (moby/moby, profiles/seccomp/default.json at tag v20.10.24): the
// profile every container-mode sandbox runs under, as the engine on these
// machines applies it when a container names none.
//
//go:embed seccomp/docker-default-v20.10.24.json
var dockerDefaultProfile []byte

// jailProfileAdditions is all that jail mode adds to Docker's default
// profile: the two calls the launcher needs to build a jail for each run.
// Docker allows them only to a container with CAP_SYS_ADMIN, which the
// sandbox never has. Both stay refused to the program: the launcher's own
// filter, installed in the jail before the program's exec, refuses them
// (and every other call that could undo the jail, see EPERM_CALLS in
// sandbox/launcher.py).
var jailProfileAdditions = []seccompRule{
	{
		Names:  []string{"unshare"},
		Action: "SCMP_ACT_ALLOW",
		Comment: "coderunner jail mode: the launcher moves each run into fresh user, mount, PID, IPC, " +
			"network and UTS namespaces. Unprivileged: the kernel grants capabilities only inside " +
			"the new user namespace, mapped to the container's own uid alone.",
	},
	{
		Names:  []string{"mount"},
		Action: "SCMP_ACT_ALLOW",
		Comment: "coderunner jail mode: in the run's own mount namespace, the launcher mounts a fresh " +
			"size-limited tmpfs on /tmp, a /proc of the run's PID namespace and an empty tmpfs over " +
			"/sys/firmware. The kernel allows mount only in a mount namespace owned by a user " +
			"namespace the caller created: never on the container's own mounts.",
	},
}

// seccompRule is one entry of a profile's "syscalls" list, as far as jail
// mode writes one.
type seccompRule struct {
	Names   []string `json:"names"`
	Action  string   `json:"action"`
	Comment string   `json:"comment,omitempty"`
}

var (
	jailProfileOnce sync.Once
	jailProfileJSON string
	jailProfileErr  error
)

// jailSeccompProfile is the profile of a jail-mode container: Docker's
// default plus jailProfileAdditions, as JSON for HostConfig.SecurityOpt
// ("seccomp=<json>").
func jailSeccompProfile() (string, error) {
	jailProfileOnce.Do(func() {
		var profile map[string]json.RawMessage
		if err := json.Unmarshal(dockerDefaultProfile, &profile); err != nil {
			jailProfileErr = fmt.Errorf("docker's default seccomp profile: %w", err)
			return
		}
		var rules []json.RawMessage
		if err := json.Unmarshal(profile["syscalls"], &rules); err != nil {
			jailProfileErr = fmt.Errorf("docker's default seccomp profile: syscalls: %w", err)
			return
		}
		for _, add := range jailProfileAdditions {
			rule, err := json.Marshal(add)
			if err != nil {
				jailProfileErr = err
				return
			}
			rules = append(rules, rule)
		}
		if profile["syscalls"], jailProfileErr = json.Marshal(rules); jailProfileErr != nil {
			return
		}
		out, err := json.Marshal(profile)
		jailProfileJSON, jailProfileErr = string(out), err
	})
	return jailProfileJSON, jailProfileErr
}
