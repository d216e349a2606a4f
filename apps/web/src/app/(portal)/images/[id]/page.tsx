import type { Metadata } from "next";
import Link from "next/link";
import { pageId } from "@/server/page-id";
import { withApi } from "@/server/trpc";

export const metadata: Metadata = { title: "Image" };

function Row({ label, value }: { label: string; value: string | number | null | undefined }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd>{value === null || value === undefined || value === "" ? "—" : value}</dd>
    </div>
  );
}

export default async function ImagePage({ params }: { params: Promise<{ id: string }> }) {
  const id = await pageId(params, "id");
  const image = await withApi((api) => api.images.get({ id }));
  const dicom = image.provenance.dicom ?? {};
  return (
    <>
      <p className="crumbs">
        <Link href={`/images?dataset=${image.datasetId}`}>{image.datasetName}</Link> /{" "}
        {image.originalFilename}
      </p>
      <div className="image-detail">
        <figure className="viewer-panel">
          <img
            src={`/api/images/${image.id}/full`}
            alt={`${image.originalFilename}, normalized`}
            width={image.width}
            height={image.height}
            data-testid="image-full"
          />
        </figure>
        <aside className="card meta">
          <h1>{image.originalFilename}</h1>
          <dl className="meta-list">
            <Row label="Dataset" value={image.datasetName} />
            <Row label="Split" value={image.split} />
            <Row label="Species" value={image.species} />
            <Row label="Body part" value={image.bodyPart} />
            <Row label="View" value={image.view} />
            <Row label="Size" value={`${image.width} × ${image.height} px`} />
            <Row label="Source" value={`${image.sourceFormat}, ${image.bitDepth}-bit`} />
            <Row label="File size" value={`${(image.byteSize / 1024).toFixed(1)} KiB`} />
            <Row label="Normalization" value={image.provenance.normalization} />
            <Row label="Imported from" value={image.provenance.sourcePath} />
            <Row label="Reads" value={image.readCount} />
            <Row label="Gold label" value={image.hasGold ? "yes" : "no"} />
            <Row label="SHA-256" value={`${image.sha256.slice(0, 16)}…`} />
            {Object.entries(dicom).map(([k, v]) => (
              <Row key={k} label={`DICOM ${k}`} value={v} />
            ))}
          </dl>
          <p>
            <a href={`/api/images/${image.id}/original`} download>
              Download the original
            </a>
          </p>
        </aside>
      </div>
    </>
  );
}
