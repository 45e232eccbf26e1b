/**
 * kubernetes-entrypoint's JSON variables: DEPENDENCY_JOBS_JSON,
 * DEPENDENCY_POD_JSON and DEPENDENCY_CUSTOM_RESOURCE, decoded into gate drafts
 * (Gates.ts checks them like every other gate). An empty or missing namespace
 * means the gates' default namespace, as there.
 */
import { Result, Schema } from "effect"
import type { Draft, GateContext } from "./GateDraft.ts"
import { firstProblem } from "./Setting.ts"

const Namespace = Schema.optionalKey(Schema.String)
const Labels = Schema.Record(Schema.String, Schema.String)

const JobsJson = Schema.fromJsonString(Schema.Array(Schema.Struct({
  namespace: Namespace,
  name: Schema.optionalKey(Schema.String),
  labels: Schema.optionalKey(Labels)
})))
const PodJson = Schema.fromJsonString(Schema.Array(Schema.Struct({
  namespace: Namespace,
  labels: Labels,
  requireSameNode: Schema.optionalKey(Schema.Boolean)
})))
const CustomResourceJson = Schema.fromJsonString(Schema.Array(Schema.Struct({
  apiVersion: Schema.String,
  kind: Schema.String,
  namespace: Namespace,
  name: Schema.String,
  fields: Schema.optionalKey(Schema.Array(Schema.Struct({ key: Schema.String, value: Schema.String }))),
  conditions: Schema.optionalKey(
    Schema.Array(Schema.Struct({ type: Schema.String, status: Schema.optionalKey(Schema.String) }))
  )
})))

export const labelsText = (labels: Readonly<Record<string, string>>) =>
  Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(",")

interface Item {
  readonly draft: Draft
  readonly label: string
}

const decode = <S extends Schema.Codec<ReadonlyArray<unknown>, string>>(schema: S, example: string, text: string) =>
  Result.mapError(
    Schema.decodeUnknownResult(schema)(text),
    (e) => `must be JSON such as ${example}: ${firstProblem(e.issue)}`
  ) as Result.Result<S["Type"], string>

const namespaceOf = (
  given: string | undefined,
  ctx: GateContext
) => (given === undefined || given === "" ? ctx.namespace : given)

export const GateJson = {
  DEPENDENCY_JOBS_JSON: (text: string, ctx: GateContext): Result.Result<Array<Item>, string> =>
    Result.flatMap(decode(JobsJson, `[{"namespace":"ns","name":"init"}]`, text), (jobs) => {
      const items: Array<Item> = []
      for (const [i, job] of jobs.entries()) {
        const namespace = namespaceOf(job.namespace, ctx)
        if ((job.name === undefined) === (job.labels === undefined)) {
          return Result.fail(`[${i}] needs a name or labels (one of them)`)
        }
        items.push(
          job.labels === undefined
            ? { draft: { _tag: "Job", namespace, name: job.name }, label: `job ${namespace}/${job.name}` }
            : {
              draft: { _tag: "JobSelector", namespace, labels: job.labels },
              label: `job ${namespace}/${labelsText(job.labels)}`
            }
        )
      }
      return Result.succeed(items)
    }),
  DEPENDENCY_POD_JSON: (text: string, ctx: GateContext) =>
    Result.map(
      decode(PodJson, `[{"labels":{"app":"db"},"requireSameNode":true}]`, text),
      (pods) =>
        pods.map((pod): Item => {
          const namespace = namespaceOf(pod.namespace, ctx)
          const requireSameNode = pod.requireSameNode ?? false
          return {
            draft: { _tag: "Pod", namespace, labels: pod.labels, requireSameNode },
            label: `pod ${namespace}/${labelsText(pod.labels)}${requireSameNode ? " on this node" : ""}`
          }
        })
    ),
  DEPENDENCY_CUSTOM_RESOURCE: (text: string, ctx: GateContext) =>
    Result.map(
      decode(CustomResourceJson, `[{"apiVersion":"v1","kind":"ConfigMap","name":"ready"}]`, text),
      (resources) =>
        resources.map((r): Item => {
          const namespace = namespaceOf(r.namespace, ctx)
          return {
            draft: {
              _tag: "CustomResource",
              apiVersion: r.apiVersion,
              kind: r.kind,
              namespace,
              name: r.name,
              fields: r.fields ?? [],
              conditions: (r.conditions ?? []).map((c) => ({ type: c.type, status: c.status ?? "True" }))
            },
            label: `${r.kind.toLowerCase()} ${namespace}/${r.name} (${r.apiVersion})`
          }
        })
    )
}
