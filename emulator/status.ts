/**
 * metav1.Status bodies and the API server's error constructors, with the
 * exact messages and details of k8s.io/apimachinery/pkg/api/errors.
 */

export interface Status {
  kind: "Status"
  apiVersion: "v1"
  metadata: Record<string, never>
  status: "Failure" | "Success"
  message?: string
  reason?: string
  details?: Record<string, unknown>
  code?: number
}

export class ApiError extends Error {
  readonly code: number
  readonly status: Status
  constructor(code: number, status: Status) {
    super(status.message ?? `HTTP ${code}`)
    this.code = code
    this.status = status
  }
}

export const statusBody = (
  code: number,
  reason: string | undefined,
  message: string,
  details?: Record<string, unknown>
): Status => ({
  kind: "Status",
  apiVersion: "v1",
  metadata: {},
  status: "Failure",
  message,
  ...(reason === undefined ? {} : { reason }),
  ...(details === undefined ? {} : { details }),
  code
})

export const failure = (
  code: number,
  reason: string | undefined,
  message: string,
  details?: Record<string, unknown>
): ApiError => new ApiError(code, statusBody(code, reason, message, details))

/** What an error message needs to know about a resource. */
export interface Qualified {
  readonly group: string
  readonly plural: string
  readonly kind: string
}

/** "pods", "leases.coordination.k8s.io": schema.GroupResource.String(). */
export const qualifiedName = (r: Qualified) => (r.group === "" ? r.plural : `${r.plural}.${r.group}`)

/** StatusDetails: empty name and group are omitted (omitempty). */
export const detailsOf = (r: Qualified, name?: string) => ({
  ...(name === undefined || name === "" ? {} : { name }),
  ...(r.group === "" ? {} : { group: r.group }),
  kind: r.plural
})

export const notFound = (r: Qualified, name: string) =>
  failure(404, "NotFound", `${qualifiedName(r)} "${name}" not found`, detailsOf(r, name))
export const namespaceNotFound = (ns: string) =>
  failure(404, "NotFound", `namespaces "${ns}" not found`, { name: ns, kind: "namespaces" })
export const alreadyExists = (r: Qualified, name: string) =>
  failure(409, "AlreadyExists", `${qualifiedName(r)} "${name}" already exists`, detailsOf(r, name))
export const conflict = (r: Qualified, name: string) =>
  failure(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${
      qualifiedName(r)
    } "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    detailsOf(r, name)
  )
export const preconditionConflict = (
  r: Qualified,
  name: string,
  what: "UID" | "ResourceVersion",
  want: string,
  have: string
) =>
  failure(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${
      qualifiedName(r)
    } "${name}": Precondition failed: ${what} in precondition: ${want}, ${what} in object meta: ${have}`,
    detailsOf(r, name)
  )
export const badRequest = (message: string) => failure(400, "BadRequest", message)
export const gone = (message: string) => failure(410, "Expired", message)

export const notFoundGeneric = () => statusBody(404, "NotFound", "the server could not find the requested resource", {})
export const methodNotAllowed = () =>
  statusBody(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})

export interface Cause {
  readonly field: string
  readonly message: string
  readonly reason?: string
}

/** 422 Invalid: `<Kind>.<group> "<name>" is invalid: <aggregate>` (a lone cause unbracketed, several in [..., ...]). */
export const invalidFor = (kind: string, group: string, name: string, causes: ReadonlyArray<Cause>) =>
  failure(
    422,
    "Invalid",
    `${group === "" ? kind : `${kind}.${group}`} "${name}" is invalid: ${
      causes.length === 1
        ? `${causes[0]!.field}: ${causes[0]!.message}`
        : `[${causes.map((c) => `${c.field}: ${c.message}`).join(", ")}]`
    }`,
    {
      ...(name === "" ? {} : { name }),
      ...(group === "" ? {} : { group }),
      kind,
      causes: causes.map((c) => ({ reason: c.reason ?? "FieldValueInvalid", message: c.message, field: c.field }))
    }
  )

/** field.Required */
export const required = (field: string, detail = ""): Cause => ({
  field,
  message: detail === "" ? "Required value" : `Required value: ${detail}`,
  reason: "FieldValueRequired"
})
/** field.Invalid with Go's %v rendering of the value. */
export const invalidValue = (field: string, value: unknown, detail: string): Cause => ({
  field,
  message: `Invalid value: ${typeof value === "string" ? JSON.stringify(value) : String(value)}: ${detail}`
})
/** field.NotSupported */
export const notSupported = (field: string, value: unknown, supported: ReadonlyArray<string>): Cause => ({
  field,
  message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${
    supported.map((s) => JSON.stringify(s)).join(", ")
  }`,
  reason: "FieldValueNotSupported"
})

/** RBAC's answer: `<resource>[ "<name>"] is forbidden: User "<user>" cannot <verb> resource "<res>" in API group "<g>" <scope>`. */
export const forbidden = (
  user: string,
  verb: string,
  r: { readonly group: string; readonly plural: string },
  subresource: string | undefined,
  ns: string | undefined,
  name: string | undefined
): Status => {
  const resource = subresource === undefined ? r.plural : `${r.plural}/${subresource}`
  const where = ns === undefined ? "at the cluster scope" : `in the namespace "${ns}"`
  return statusBody(
    403,
    "Forbidden",
    `${qualifiedName({ ...r, kind: "" })}${
      name === undefined ? "" : ` "${name}"`
    } is forbidden: User "${user}" cannot ${verb} resource "${resource}" in API group "${r.group}" ${where}`,
    { ...(name === undefined ? {} : { name }), ...(r.group === "" ? {} : { group: r.group }), kind: r.plural }
  )
}
