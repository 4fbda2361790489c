#!/usr/bin/env python3
"""Packs AnyChat.dll (built by mcs) into a NuGet package, AnyChat.VERSION.nupkg.

    python3 pack.py OUT_DIR BUILD_DIR

BUILD_DIR holds AnyChat.dll and AnyChat.xml (mcs -doc). A .nupkg is a zip
(Open Packaging Conventions) with the .nuspec at its root, the files where
the .nuspec's <files> put them, [Content_Types].xml and _rels/.rels. This is
what `nuget pack` writes; Debian has no NuGet client recent enough and no
dotnet SDK, so the package is written here. With the dotnet SDK,
`dotnet pack AnyChat.csproj` makes the same package.
"""
import os
import sys
import xml.etree.ElementTree as ET
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
NS = {"n": "http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd"}


def main(out_dir, build_dir):
    spec_path = os.path.join(HERE, "AnyChat.nuspec")
    spec = ET.parse(spec_path).getroot()
    pid = spec.find("n:metadata/n:id", NS).text
    version = spec.find("n:metadata/n:version", NS).text
    out = os.path.join(out_dir, f"{pid}.{version}.nupkg")
    files = [(f.get("src"), f.get("target")) for f in spec.findall("n:files/n:file", NS)]
    exts = sorted({os.path.splitext(src)[1].lstrip(".") for src, _ in files} | {"nuspec", "rels"})
    types = "".join(f'<Default Extension="{e}" ContentType="application/octet" />' for e in exts if e != "rels")
    content_types = ('<?xml version="1.0" encoding="utf-8"?><Types xmlns="http://schemas.openxmlformats.org/'
                     'package/2006/content-types"><Default Extension="rels" ContentType="application/'
                     f'vnd.openxmlformats-package.relationships+xml" />{types}</Types>')
    rels = ('<?xml version="1.0" encoding="utf-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Type="http://schemas.microsoft.com/packaging/2010/07/'
            f'manifest" Target="/{pid}.nuspec" Id="R1" /></Relationships>')
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", content_types)
        z.writestr("_rels/.rels", rels)
        z.write(spec_path, f"{pid}.nuspec")
        for src, target in files:
            z.write(os.path.join(build_dir, src), f"{target}/{os.path.basename(src)}")
    print(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
