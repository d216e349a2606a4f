CREATE TYPE "public"."gate_value" AS ENUM('normal', 'abnormal');--> statement-breakpoint
CREATE TYPE "public"."image_split" AS ENUM('train', 'val', 'test');--> statement-breakpoint
CREATE TYPE "public"."import_status" AS ENUM('running', 'finished', 'failed');--> statement-breakpoint
CREATE TYPE "public"."read_kind" AS ENUM('read', 'skip');--> statement-breakpoint
CREATE TYPE "public"."reading_mode" AS ENUM('blind', 'assisted');--> statement-breakpoint
CREATE TYPE "public"."round_status" AS ENUM('queued', 'running', 'cancelling', 'cancelled', 'succeeded', 'failed');--> statement-breakpoint
CREATE TYPE "public"."user_role" AS ENUM('annotator', 'lead', 'researcher', 'admin');--> statement-breakpoint
CREATE TABLE "audit_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"actor_id" uuid,
	"action" text NOT NULL,
	"resource_type" text NOT NULL,
	"resource_id" text NOT NULL,
	"dataset_id" uuid,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "datasets" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"label_schema" jsonb NOT NULL,
	"reading_mode" "reading_mode" DEFAULT 'blind' NOT NULL,
	"reads_per_image" integer DEFAULT 1 NOT NULL,
	"lease_minutes" integer DEFAULT 15 NOT NULL,
	"created_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "images" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"dataset_id" uuid NOT NULL,
	"sha256" text NOT NULL,
	"original_key" text NOT NULL,
	"normalized_key" text NOT NULL,
	"thumbnail_key" text NOT NULL,
	"original_filename" text NOT NULL,
	"source_format" text NOT NULL,
	"bit_depth" integer NOT NULL,
	"width" integer NOT NULL,
	"height" integer NOT NULL,
	"byte_size" bigint NOT NULL,
	"species" text,
	"body_part" text,
	"view" text,
	"split" "image_split" DEFAULT 'train' NOT NULL,
	"provenance" jsonb NOT NULL,
	"priority" double precision DEFAULT 0 NOT NULL,
	"reads_needed" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "imports" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"dataset_id" uuid NOT NULL,
	"started_by" uuid,
	"source" text NOT NULL,
	"status" "import_status" DEFAULT 'running' NOT NULL,
	"totals" jsonb DEFAULT '{"files":0,"imported":0,"duplicates":0,"refused":0}'::jsonb NOT NULL,
	"refusals" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "leases" (
	"image_id" uuid PRIMARY KEY NOT NULL,
	"user_id" uuid NOT NULL,
	"dataset_id" uuid NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "gold_labels" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"image_id" uuid NOT NULL,
	"dataset_id" uuid NOT NULL,
	"gate" "gate_value" NOT NULL,
	"findings" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"adjudicated_by" uuid NOT NULL,
	"reason" text DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"superseded_at" timestamp with time zone,
	"revoked_reason" text
);
--> statement-breakpoint
CREATE TABLE "reads" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"image_id" uuid NOT NULL,
	"dataset_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"kind" "read_kind" DEFAULT 'read' NOT NULL,
	"gate" "gate_value",
	"findings" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"skip_reason" text,
	"flagged" boolean DEFAULT false NOT NULL,
	"flag_reason" text,
	"time_spent_ms" integer DEFAULT 0 NOT NULL,
	"assisted" boolean DEFAULT false NOT NULL,
	"model_version_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "model_versions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"dataset_id" uuid NOT NULL,
	"number" integer NOT NULL,
	"round_id" uuid,
	"parent_version_id" uuid,
	"encoder_from_version_id" uuid,
	"artifact_key" text NOT NULL,
	"config" jsonb NOT NULL,
	"label_snapshot" jsonb NOT NULL,
	"code_revision" text DEFAULT 'unknown' NOT NULL,
	"metrics" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"is_active" boolean DEFAULT false NOT NULL,
	"promoted_at" timestamp with time zone,
	"promoted_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "predictions" (
	"version_id" uuid NOT NULL,
	"image_id" uuid NOT NULL,
	"probs" jsonb NOT NULL,
	"scores" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"uncertainty" double precision DEFAULT 0 NOT NULL,
	"embedding" real[],
	"heatmaps" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "predictions_version_id_image_id_pk" PRIMARY KEY("version_id","image_id")
);
--> statement-breakpoint
CREATE TABLE "round_metrics" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"round_id" uuid NOT NULL,
	"stage" text NOT NULL,
	"epoch" integer NOT NULL,
	"values" jsonb NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "training_rounds" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"dataset_id" uuid NOT NULL,
	"created_by" uuid,
	"config" jsonb NOT NULL,
	"status" "round_status" DEFAULT 'queued' NOT NULL,
	"progress" jsonb DEFAULT '{"stage":"queued"}'::jsonb NOT NULL,
	"error" text,
	"job_id" text,
	"worker_id" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"version_id" uuid,
	"checkpoint_key" text,
	"heartbeat_at" timestamp with time zone,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "login_attempts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"email" text NOT NULL,
	"address" text DEFAULT '' NOT NULL,
	"succeeded" integer DEFAULT 0 NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "users" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"email" text NOT NULL,
	"name" text DEFAULT '' NOT NULL,
	"role" "user_role" NOT NULL,
	"password_hash" text NOT NULL,
	"session_version" integer DEFAULT 0 NOT NULL,
	"disabled_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_actor_id_users_id_fk" FOREIGN KEY ("actor_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "datasets" ADD CONSTRAINT "datasets_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "images" ADD CONSTRAINT "images_dataset_id_datasets_id_fk" FOREIGN KEY ("dataset_id") REFERENCES "public"."datasets"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "imports" ADD CONSTRAINT "imports_dataset_id_datasets_id_fk" FOREIGN KEY ("dataset_id") REFERENCES "public"."datasets"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "imports" ADD CONSTRAINT "imports_started_by_users_id_fk" FOREIGN KEY ("started_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "leases" ADD CONSTRAINT "leases_image_id_images_id_fk" FOREIGN KEY ("image_id") REFERENCES "public"."images"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "leases" ADD CONSTRAINT "leases_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "leases" ADD CONSTRAINT "leases_dataset_id_datasets_id_fk" FOREIGN KEY ("dataset_id") REFERENCES "public"."datasets"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "gold_labels" ADD CONSTRAINT "gold_labels_image_id_images_id_fk" FOREIGN KEY ("image_id") REFERENCES "public"."images"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "gold_labels" ADD CONSTRAINT "gold_labels_dataset_id_datasets_id_fk" FOREIGN KEY ("dataset_id") REFERENCES "public"."datasets"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "gold_labels" ADD CONSTRAINT "gold_labels_adjudicated_by_users_id_fk" FOREIGN KEY ("adjudicated_by") REFERENCES "public"."users"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reads" ADD CONSTRAINT "reads_image_id_images_id_fk" FOREIGN KEY ("image_id") REFERENCES "public"."images"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reads" ADD CONSTRAINT "reads_dataset_id_datasets_id_fk" FOREIGN KEY ("dataset_id") REFERENCES "public"."datasets"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reads" ADD CONSTRAINT "reads_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "model_versions" ADD CONSTRAINT "model_versions_dataset_id_datasets_id_fk" FOREIGN KEY ("dataset_id") REFERENCES "public"."datasets"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "model_versions" ADD CONSTRAINT "model_versions_round_id_training_rounds_id_fk" FOREIGN KEY ("round_id") REFERENCES "public"."training_rounds"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "model_versions" ADD CONSTRAINT "model_versions_promoted_by_users_id_fk" FOREIGN KEY ("promoted_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "predictions" ADD CONSTRAINT "predictions_version_id_model_versions_id_fk" FOREIGN KEY ("version_id") REFERENCES "public"."model_versions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "predictions" ADD CONSTRAINT "predictions_image_id_images_id_fk" FOREIGN KEY ("image_id") REFERENCES "public"."images"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "round_metrics" ADD CONSTRAINT "round_metrics_round_id_training_rounds_id_fk" FOREIGN KEY ("round_id") REFERENCES "public"."training_rounds"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "training_rounds" ADD CONSTRAINT "training_rounds_dataset_id_datasets_id_fk" FOREIGN KEY ("dataset_id") REFERENCES "public"."datasets"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "training_rounds" ADD CONSTRAINT "training_rounds_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "audit_at_idx" ON "audit_events" USING btree ("at");--> statement-breakpoint
CREATE INDEX "audit_resource_idx" ON "audit_events" USING btree ("resource_type","resource_id");--> statement-breakpoint
CREATE UNIQUE INDEX "datasets_name_idx" ON "datasets" USING btree ("name");--> statement-breakpoint
CREATE UNIQUE INDEX "images_dataset_sha_idx" ON "images" USING btree ("dataset_id","sha256");--> statement-breakpoint
CREATE INDEX "images_queue_idx" ON "images" USING btree ("dataset_id","priority" DESC NULLS LAST,"id") WHERE "images"."reads_needed" > 0;--> statement-breakpoint
CREATE INDEX "images_dataset_split_idx" ON "images" USING btree ("dataset_id","split");--> statement-breakpoint
CREATE INDEX "imports_dataset_idx" ON "imports" USING btree ("dataset_id","started_at");--> statement-breakpoint
CREATE INDEX "leases_user_idx" ON "leases" USING btree ("user_id","expires_at");--> statement-breakpoint
CREATE UNIQUE INDEX "gold_current_idx" ON "gold_labels" USING btree ("image_id") WHERE "gold_labels"."superseded_at" is null;--> statement-breakpoint
CREATE INDEX "gold_dataset_idx" ON "gold_labels" USING btree ("dataset_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "reads_image_user_idx" ON "reads" USING btree ("image_id","user_id");--> statement-breakpoint
CREATE INDEX "reads_user_idx" ON "reads" USING btree ("user_id","created_at");--> statement-breakpoint
CREATE INDEX "reads_dataset_idx" ON "reads" USING btree ("dataset_id","created_at");--> statement-breakpoint
CREATE INDEX "reads_flagged_idx" ON "reads" USING btree ("dataset_id") WHERE "reads"."flagged";--> statement-breakpoint
CREATE UNIQUE INDEX "versions_dataset_number_idx" ON "model_versions" USING btree ("dataset_id","number");--> statement-breakpoint
CREATE UNIQUE INDEX "versions_active_idx" ON "model_versions" USING btree ("dataset_id") WHERE "model_versions"."is_active";--> statement-breakpoint
CREATE INDEX "predictions_image_idx" ON "predictions" USING btree ("image_id");--> statement-breakpoint
CREATE INDEX "round_metrics_round_idx" ON "round_metrics" USING btree ("round_id","id");--> statement-breakpoint
CREATE INDEX "rounds_dataset_idx" ON "training_rounds" USING btree ("dataset_id","created_at");--> statement-breakpoint
CREATE INDEX "rounds_status_idx" ON "training_rounds" USING btree ("status");--> statement-breakpoint
CREATE INDEX "login_attempts_email_at_idx" ON "login_attempts" USING btree ("email","at");--> statement-breakpoint
CREATE INDEX "login_attempts_address_at_idx" ON "login_attempts" USING btree ("address","at");--> statement-breakpoint
CREATE UNIQUE INDEX "users_email_lower_idx" ON "users" USING btree (lower("email"));--> statement-breakpoint
CREATE INDEX "users_role_idx" ON "users" USING btree ("role");