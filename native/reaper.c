/*
 * The one system call Node does not offer: waitpid() on a given pid, so that as
 * PID 1 the wrapper can reap orphans the kernel re-parents to it (as tini does).
 * Only pids that Node did not spawn are passed in: waitpid(-1) would race libuv
 * for our own child's exit status.
 */
#include <errno.h>
#include <node_api.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

/* waitpid(pid, WNOHANG): null while it runs or when it is not our child, else { pid, status }. */
static napi_value Reap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_value result;
  int32_t pid = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &pid) != napi_ok || pid <= 0) {
    napi_throw_type_error(env, NULL, "reap(pid) needs a positive pid");
    return NULL;
  }
  int status = 0;
  pid_t got;
  do {
    got = waitpid((pid_t)pid, &status, WNOHANG);
  } while (got == -1 && errno == EINTR);
  if (got <= 0) {
    napi_get_null(env, &result);
    return result;
  }
  napi_value p, s;
  napi_create_object(env, &result);
  napi_create_int32(env, (int32_t)got, &p);
  napi_create_int32(env, status, &s);
  napi_set_named_property(env, result, "pid", p);
  napi_set_named_property(env, result, "status", s);
  return result;
}

/* Become a child subreaper: orphaned descendants re-parent to us rather than to PID 1. */
static napi_value Subreaper(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  napi_get_boolean(env, prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, &result);
  return result;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "reap", NAPI_AUTO_LENGTH, Reap, NULL, &fn);
  napi_set_named_property(env, exports, "reap", fn);
  napi_create_function(env, "subreaper", NAPI_AUTO_LENGTH, Subreaper, NULL, &fn);
  napi_set_named_property(env, exports, "subreaper", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
