#!/usr/bin/env python3
# Copied unchanged (below this note) from the project's shared tools, check_xlsx.py of
# 2026-12-02: a static check of .xlsx/.xlsm packages against known Excel repair triggers.
# tests/test_zz_workbooks_open_clean.py runs it on every workbook the test suite writes.
"""check_xlsx.py - static checks of .xlsx/.xlsm packages against known Microsoft Excel
repair triggers ("We found a problem with some content ..."), #NAME? risks and
Excel-vs-LibreOffice formula differences.  No Excel needed; stdlib only.

Usage:
    python3 check_xlsx.py FILE [FILE ...] [--json OUT.json] [--functions] [--quiet]

    --functions   also print every distinct function used in formulas (cells, defined
                  names, conditional formats, data validation), with counts and notes
    --json        write all findings (and the function inventory) as JSON
    --quiet       only the per-file summary lines and findings (no OK lines)

Exit status: 2 if any REPAIR finding, 1 if any MAYBE finding, else 0.

Severities
    REPAIR    Excel is known to raise the repair prompt (or refuse the file) for this.
    MAYBE     may trigger repair, #NAME?/#REF!, or a different result in some Excel
              versions / locales; needs a human look.
    COSMETIC  Excel opens silently (it may rewrite on save); style/consistency issue.
    INFO      observation only.
"""

from __future__ import annotations

import argparse
import collections
import json
import posixpath
import re
import sys
import zipfile
from xml.etree import ElementTree as ET

# ----------------------------------------------------------------------------- namespaces
M = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PR = "http://schemas.openxmlformats.org/package/2006/relationships"
CTNS = "http://schemas.openxmlformats.org/package/2006/content-types"
C = "http://schemas.openxmlformats.org/drawingml/2006/chart"
XDR = "http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing"
A = "http://schemas.openxmlformats.org/drawingml/2006/main"
MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
X14 = "http://schemas.microsoft.com/office/spreadsheetml/2009/9/main"
XM = "http://schemas.microsoft.com/office/excel/2006/main"


def q(ns, tag):
    return f"{{{ns}}}{tag}"


RT = {  # relationship types
    "officeDocument": "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument",
    "worksheet": f"{R}/worksheet",
    "chartsheet": f"{R}/chartsheet",
    "styles": f"{R}/styles",
    "sharedStrings": f"{R}/sharedStrings",
    "theme": f"{R}/theme",
    "table": f"{R}/table",
    "drawing": f"{R}/drawing",
    "chart": f"{R}/chart",
    "hyperlink": f"{R}/hyperlink",
    "vbaProject": "http://schemas.microsoft.com/office/2006/relationships/vbaProject",
}
CT = {
    "xlsx_main": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    "xlsm_main": "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    "xltx_main": "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
    "xltm_main": "application/vnd.ms-excel.template.macroEnabled.main+xml",
    "worksheet": "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml",
    "table": "application/vnd.openxmlformats-officedocument.spreadsheetml.table+xml",
    "drawing": "application/vnd.openxmlformats-officedocument.drawing+xml",
    "chart": "application/vnd.openxmlformats-officedocument.drawingml.chart+xml",
    "styles": "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml",
    "sharedStrings": "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml",
    "vbaProject": "application/vnd.ms-office.vbaProject",
    "rels": "application/vnd.openxmlformats-package.relationships+xml",
}
REL_CT = {RT["worksheet"]: CT["worksheet"], RT["table"]: CT["table"],
          RT["drawing"]: CT["drawing"], RT["chart"]: CT["chart"],
          RT["styles"]: CT["styles"], RT["sharedStrings"]: CT["sharedStrings"],
          RT["vbaProject"]: CT["vbaProject"]}

# Order of the children of <worksheet> (ECMA-376 CT_Worksheet). Out of order = repair.
WS_ORDER = ["sheetPr", "dimension", "sheetViews", "sheetFormatPr", "cols", "sheetData",
            "sheetCalcPr", "sheetProtection", "protectedRanges", "scenarios", "autoFilter",
            "sortState", "dataConsolidate", "customSheetViews", "mergeCells", "phoneticPr",
            "conditionalFormatting", "dataValidations", "hyperlinks", "printOptions",
            "pageMargins", "pageSetup", "headerFooter", "rowBreaks", "colBreaks",
            "customProperties", "cellWatches", "ignoredErrors", "smartTags", "drawing",
            "legacyDrawing", "legacyDrawingHF", "drawingHF", "picture", "oleObjects",
            "controls", "webPublishItems", "tableParts", "extLst"]
WB_ORDER = ["fileVersion", "fileSharing", "workbookPr", "workbookProtection", "bookViews",
            "sheets", "functionGroups", "externalReferences", "definedNames", "calcPr",
            "oleSize", "customWorkbookViews", "pivotCaches", "smartTagPr", "smartTagTypes",
            "webPublishing", "fileRecoveryPr", "webPublishObjects", "extLst"]

MAX_ROW, MAX_COL = 1048576, 16384
ERRORS = {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A",
          "#GETTING_DATA", "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!", "#CONNECT!",
          "#BUSY!", "#UNKNOWN!", "#PYTHON!"}
BUILTIN_TABLE_STYLES = ({f"TableStyleLight{i}" for i in range(1, 22)}
                        | {f"TableStyleMedium{i}" for i in range(1, 29)}
                        | {f"TableStyleDark{i}" for i in range(1, 12)})
XLNM = {"_xlnm.Print_Area", "_xlnm.Print_Titles", "_xlnm._FilterDatabase", "_xlnm.Criteria",
        "_xlnm.Extract", "_xlnm.Consolidate_Area", "_xlnm.Database", "_xlnm.Sheet_Title",
        "_xlnm.Auto_Open", "_xlnm.Auto_Close", "_xlnm.Recorder", "_xlnm.Data_Form"}

# ------------------------------------------------------------------ Excel function catalogue
# Functions Excel 2007 knows natively (stored without prefix). Not exhaustive for the
# exotic engineering/cube/financial families, but covers everything common.
LEGACY = set("""
ABS ACCRINT ACCRINTM ACOS ACOSH ADDRESS AMORDEGRC AMORLINC AND AREAS ASC ASIN ASINH ATAN
ATAN2 ATANH AVEDEV AVERAGE AVERAGEA AVERAGEIF AVERAGEIFS BAHTTEXT BESSELI BESSELJ BESSELK
BESSELY BETADIST BETAINV BIN2DEC BIN2HEX BIN2OCT BINOMDIST CALL CEILING CELL CHAR CHIDIST
CHIINV CHITEST CHOOSE CLEAN CODE COLUMN COLUMNS COMBIN COMPLEX CONCATENATE CONFIDENCE
CONVERT CORREL COS COSH COUNT COUNTA COUNTBLANK COUNTIF COUNTIFS COUPDAYBS COUPDAYS
COUPDAYSNC COUPNCD COUPNUM COUPPCD COVAR CRITBINOM CUBEKPIMEMBER CUBEMEMBER
CUBEMEMBERPROPERTY CUBERANKEDMEMBER CUBESET CUBESETCOUNT CUBEVALUE CUMIPMT CUMPRINC DATE
DATEDIF DATEVALUE DAVERAGE DAY DAYS360 DB DCOUNT DCOUNTA DDB DEC2BIN DEC2HEX DEC2OCT
DEGREES DELTA DEVSQ DGET DISC DMAX DMIN DOLLAR DOLLARDE DOLLARFR DPRODUCT DSTDEV DSTDEVP
DSUM DURATION DVAR DVARP EDATE EFFECT EOMONTH ERF ERFC ERROR.TYPE EVEN EXACT EXP EXPONDIST
FACT FACTDOUBLE FALSE FDIST FIND FINDB FINV FISHER FISHERINV FIXED FLOOR FORECAST FREQUENCY
FTEST FV FVSCHEDULE GAMMADIST GAMMAINV GAMMALN GCD GEOMEAN GESTEP GETPIVOTDATA GROWTH
HARMEAN HEX2BIN HEX2DEC HEX2OCT HLOOKUP HOUR HYPERLINK HYPGEOMDIST IF IFERROR IMABS
IMAGINARY IMARGUMENT IMCONJUGATE IMCOS IMDIV IMEXP IMLN IMLOG10 IMLOG2 IMPOWER IMPRODUCT
IMREAL IMSIN IMSQRT IMSUB IMSUM INDEX INDIRECT INFO INT INTERCEPT INTRATE IPMT IRR ISBLANK
ISERR ISERROR ISEVEN ISLOGICAL ISNA ISNONTEXT ISNUMBER ISODD ISPMT ISREF ISTEXT JIS KURT
LARGE LCM LEFT LEFTB LEN LENB LINEST LN LOG LOG10 LOGEST LOGINV LOGNORMDIST LOOKUP LOWER
MATCH MAX MAXA MDETERM MDURATION MEDIAN MID MIDB MIN MINA MINUTE MINVERSE MIRR MMULT MOD
MODE MONTH MROUND MULTINOMIAL N NA NEGBINOMDIST NETWORKDAYS NOMINAL NORMDIST NORMINV
NORMSDIST NORMSINV NOT NOW NPER NPV OCT2BIN OCT2DEC OCT2HEX ODD ODDFPRICE ODDFYIELD
ODDLPRICE ODDLYIELD OFFSET OR PEARSON PERCENTILE PERCENTRANK PERMUT PHONETIC PI PMT POISSON
POWER PPMT PRICE PRICEDISC PRICEMAT PROB PRODUCT PROPER PV QUARTILE QUOTIENT RADIANS RAND
RANDBETWEEN RANK RATE RECEIVED REGISTER.ID REPLACE REPLACEB REPT RIGHT RIGHTB ROMAN ROUND
ROUNDDOWN ROUNDUP ROW ROWS RSQ RTD SEARCH SEARCHB SECOND SERIESSUM SIGN SIN SINH SKEW SLN
SLOPE SMALL SQRT SQRTPI STANDARDIZE STDEV STDEVA STDEVP STDEVPA STEYX SUBSTITUTE SUBTOTAL
SUM SUMIF SUMIFS SUMPRODUCT SUMSQ SUMX2MY2 SUMX2PY2 SUMXMY2 SYD T TAN TANH TBILLEQ
TBILLPRICE TBILLYIELD TDIST TEXT TIME TIMEVALUE TINV TODAY TRANSPOSE TREND TRIM TRIMMEAN
TRUE TRUNC TTEST TYPE UPPER VALUE VAR VARA VARP VARPA VDB VLOOKUP WEEKDAY WEEKNUM WEIBULL
WORKDAY XIRR XNPV YEAR YEARFRAC YIELD YIELDDISC YIELDMAT ZTEST
""".split())
# "Future functions" (MS-XLSX 2.2.2.3): stored as _xlfn.NAME (some with more prefixes).
FUTURE = {
    # Excel 2010
    "AGGREGATE": 2010, "BETA.DIST": 2010, "BETA.INV": 2010, "BINOM.DIST": 2010,
    "BINOM.INV": 2010, "CEILING.PRECISE": 2010, "CHISQ.DIST": 2010, "CHISQ.DIST.RT": 2010,
    "CHISQ.INV": 2010, "CHISQ.INV.RT": 2010, "CHISQ.TEST": 2010, "CONFIDENCE.NORM": 2010,
    "CONFIDENCE.T": 2010, "COVARIANCE.P": 2010, "COVARIANCE.S": 2010, "ERF.PRECISE": 2010,
    "ERFC.PRECISE": 2010, "EXPON.DIST": 2010, "F.DIST": 2010, "F.DIST.RT": 2010,
    "F.INV": 2010, "F.INV.RT": 2010, "F.TEST": 2010, "FLOOR.PRECISE": 2010,
    "GAMMA.DIST": 2010, "GAMMA.INV": 2010, "GAMMALN.PRECISE": 2010, "HYPGEOM.DIST": 2010,
    "ISO.CEILING": 2010, "LOGNORM.DIST": 2010, "LOGNORM.INV": 2010, "MODE.MULT": 2010,
    "MODE.SNGL": 2010, "NEGBINOM.DIST": 2010, "NETWORKDAYS.INTL": 2010, "NORM.DIST": 2010,
    "NORM.INV": 2010, "NORM.S.DIST": 2010, "NORM.S.INV": 2010, "PERCENTILE.EXC": 2010,
    "PERCENTILE.INC": 2010, "PERCENTRANK.EXC": 2010, "PERCENTRANK.INC": 2010,
    "POISSON.DIST": 2010, "QUARTILE.EXC": 2010, "QUARTILE.INC": 2010, "RANK.AVG": 2010,
    "RANK.EQ": 2010, "STDEV.P": 2010, "STDEV.S": 2010, "T.DIST": 2010, "T.DIST.2T": 2010,
    "T.DIST.RT": 2010, "T.INV": 2010, "T.INV.2T": 2010, "T.TEST": 2010, "VAR.P": 2010,
    "VAR.S": 2010, "WEIBULL.DIST": 2010, "WORKDAY.INTL": 2010, "Z.TEST": 2010,
    # Excel 2013
    "ACOT": 2013, "ACOTH": 2013, "ARABIC": 2013, "BASE": 2013, "BINOM.DIST.RANGE": 2013,
    "BITAND": 2013, "BITLSHIFT": 2013, "BITOR": 2013, "BITRSHIFT": 2013, "BITXOR": 2013,
    "CEILING.MATH": 2013, "COMBINA": 2013, "COT": 2013, "COTH": 2013, "CSC": 2013,
    "CSCH": 2013, "DAYS": 2013, "DECIMAL": 2013, "ENCODEURL": 2013, "FILTERXML": 2013,
    "FLOOR.MATH": 2013, "FORMULATEXT": 2013, "GAMMA": 2013, "GAUSS": 2013, "IFNA": 2013,
    "IMCOSH": 2013, "IMCOT": 2013, "IMCSC": 2013, "IMCSCH": 2013, "IMSEC": 2013,
    "IMSECH": 2013, "IMSINH": 2013, "IMTAN": 2013, "ISFORMULA": 2013, "ISOWEEKNUM": 2013,
    "MUNIT": 2013, "NUMBERVALUE": 2013, "PDURATION": 2013, "PERMUTATIONA": 2013,
    "PHI": 2013, "RRI": 2013, "SEC": 2013, "SECH": 2013, "SHEET": 2013, "SHEETS": 2013,
    "SKEW.P": 2013, "UNICHAR": 2013, "UNICODE": 2013, "WEBSERVICE": 2013, "XOR": 2013,
    # Excel 2016 / 2019
    "FORECAST.ETS": 2016, "FORECAST.ETS.CONFINT": 2016, "FORECAST.ETS.SEASONALITY": 2016,
    "FORECAST.ETS.STAT": 2016, "FORECAST.LINEAR": 2016, "CONCAT": 2019, "IFS": 2019,
    "MAXIFS": 2019, "MINIFS": 2019, "SWITCH": 2019, "TEXTJOIN": 2019,
    # Microsoft 365 / 2021+ (dynamic arrays etc.)
    "XLOOKUP": 2021, "XMATCH": 2021, "FILTER": 2021, "SORT": 2021, "SORTBY": 2021,
    "UNIQUE": 2021, "SEQUENCE": 2021, "RANDARRAY": 2021, "LET": 2021, "LAMBDA": 365,
    "SINGLE": 2021, "ANCHORARRAY": 2021, "TEXTBEFORE": 365, "TEXTAFTER": 365,
    "TEXTSPLIT": 365, "VSTACK": 365, "HSTACK": 365, "TOCOL": 365, "TOROW": 365,
    "WRAPROWS": 365, "WRAPCOLS": 365, "TAKE": 365, "DROP": 365, "CHOOSEROWS": 365,
    "CHOOSECOLS": 365, "EXPAND": 365, "MAP": 365, "REDUCE": 365, "SCAN": 365,
    "MAKEARRAY": 365, "BYROW": 365, "BYCOL": 365, "ISOMITTED": 365, "GROUPBY": 365,
    "PIVOTBY": 365, "PERCENTOF": 365, "IMAGE": 365, "VALUETOTEXT": 365,
    "ARRAYTOTEXT": 365, "REGEXTEST": 365, "REGEXEXTRACT": 365, "REGEXREPLACE": 365,
    "TRIMRANGE": 365, "STOCKHISTORY": 365,
}
DYNAMIC_ARRAY = {"FILTER", "SORT", "SORTBY", "UNIQUE", "SEQUENCE", "RANDARRAY", "XLOOKUP",
                 "XMATCH", "LET", "LAMBDA", "VSTACK", "HSTACK", "TOCOL", "TOROW", "TAKE",
                 "DROP", "CHOOSEROWS", "CHOOSECOLS", "EXPAND", "TEXTSPLIT", "MAP", "REDUCE",
                 "SCAN", "MAKEARRAY", "BYROW", "BYCOL", "GROUPBY", "PIVOTBY"}
XLWS = {"FILTER", "SORT"}  # need _xlfn._xlws.


# ----------------------------------------------------------------------------- helpers
def col2num(s):
    n = 0
    for ch in s.upper():
        n = n * 26 + ord(ch) - 64
    return n


def num2col(n):
    s = ""
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


CELL_RE = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d+)$")


def parse_cell(ref):
    m = CELL_RE.match(ref)
    if not m:
        return None
    c, r = col2num(m.group(1)), int(m.group(2))
    if not (1 <= c <= MAX_COL and 1 <= r <= MAX_ROW):
        return None
    return c, r


def parse_range(ref):
    """'A1:B3' or 'A1' -> (c1, r1, c2, r2); whole rows/cols supported; None if invalid."""
    ref = ref.strip()
    if ":" in ref:
        a, b = ref.split(":", 1)
    else:
        a = b = ref
    pa, pb = parse_cell(a), parse_cell(b)
    if pa and pb:
        return min(pa[0], pb[0]), min(pa[1], pb[1]), max(pa[0], pb[0]), max(pa[1], pb[1])
    m1, m2 = re.match(r"^\$?([A-Za-z]{1,3})$", a), re.match(r"^\$?([A-Za-z]{1,3})$", b)
    if m1 and m2 and ":" in ref:
        return col2num(m1.group(1)), 1, col2num(m2.group(1)), MAX_ROW
    m1, m2 = re.match(r"^\$?(\d+)$", a), re.match(r"^\$?(\d+)$", b)
    if m1 and m2 and ":" in ref:
        return 1, int(m1.group(1)), MAX_COL, int(m2.group(1))
    return None


def overlap(a, b):
    return not (a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1])


def rstr(t):
    return f"{num2col(t[0])}{t[1]}:{num2col(t[2])}{t[3]}"


def resolve(source_part, target):
    if target.startswith("/"):
        return target.lstrip("/")
    base = posixpath.dirname(source_part)
    return posixpath.normpath(posixpath.join(base, target))


def rels_part_for(part):
    d, b = posixpath.split(part)
    return posixpath.join(d, "_rels", b + ".rels")


def unescape_ooxml(s):
    """_xHHHH_ escapes used in table column names / strings."""
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), s or "")


def snippet(xml_bytes_or_str, needle, width=260):
    s = xml_bytes_or_str.decode("utf-8", "replace") if isinstance(xml_bytes_or_str, bytes) \
        else xml_bytes_or_str
    i = s.find(needle)
    if i < 0:
        return ""
    return s[max(0, i - 60): i + width].replace("\n", " ")


NAME_RE = re.compile(r"^[A-Za-z_\\\u00C0-\uFFFF][\w.\\\u00C0-\uFFFF]*$")


def looks_like_cell_ref(name):
    if CELL_RE.match(name) and parse_cell(name):
        return True
    if re.match(r"^[Rr]\d*[Cc]\d*$", name) or name in ("R", "C", "r", "c"):
        return True
    return False


def valid_name(name):
    return bool(name) and len(name) <= 255 and bool(NAME_RE.match(name)) and \
        not looks_like_cell_ref(name) and name.upper() not in ("TRUE", "FALSE")


# ----------------------------------------------------------------------------- formulas
STR_RE = re.compile(r'"(?:[^"]|"")*"')
QSHEET_RE = re.compile(r"'((?:[^']|'')+)'!")
ARR_RE = re.compile(r"\{[^}]*\}")
FUNC_RE = re.compile(r"(?<![\w.$\\])((?:_xlfn\.|_xlws\.)*[A-Za-z_][\w.]*)\s*\(")
USHEET_RE = re.compile(r"(?<![\w.'\]])([A-Za-z_\u00C0-\uFFFF][\w.\u00C0-\uFFFF]*)!")
ROW_RE = re.compile(r"(?<![A-Za-z_.\\])(\$?[A-Z]{1,3}\$?)\d+(?![\w(])")
IDENT_RE = re.compile(r"(?<![\w.$!\\\]])(\$?[A-Za-z_\\][\w.$\\]*)(?![\w.(!\[])")


def structured_refs(f):
    """Yield (table_or_None, inner_text) for each top-level [...] group."""
    i, n = 0, len(f)
    while i < n:
        if f[i] == "[":
            j, depth = i, 0
            while j < n:
                if f[j] == "[":
                    depth += 1
                elif f[j] == "]":
                    depth -= 1
                    if depth == 0:
                        break
                elif f[j] == "'" and j + 1 < n:
                    j += 1  # escaped char inside structured ref
                j += 1
            m = re.search(r"([A-Za-z_\\][\w.\\]*)$", f[:i])
            yield (m.group(1) if m else None), f[i + 1:j]
            i = j + 1
        else:
            i += 1


def strip_structured(f):
    out, i, n = [], 0, len(f)
    while i < n:
        if f[i] == "[":
            j, depth = i, 0
            while j < n:
                if f[j] == "[":
                    depth += 1
                elif f[j] == "]":
                    depth -= 1
                    if depth == 0:
                        break
                elif f[j] == "'" and j + 1 < n:
                    j += 1
                j += 1
            out.append("[]")
            i = j + 1
        else:
            out.append(f[i])
            i += 1
    return "".join(out)


def analyse_formula(f):
    """Return dict: functions, sheets, tables (table, inner), names, max_depth, max_args."""
    s = STR_RE.sub('""', f)
    sheets = [m.group(1).replace("''", "'") for m in QSHEET_RE.finditer(s)]
    s = QSHEET_RE.sub("QSHEET!", s)
    s = ARR_RE.sub("{}", s)
    tables = list(structured_refs(s))
    s2 = strip_structured(s)
    funcs = [m.group(1) for m in FUNC_RE.finditer(s2)]
    sheets += [m.group(1) for m in USHEET_RE.finditer(s2) if m.group(1) != "QSHEET"]
    s3 = USHEET_RE.sub("!", s2)
    s3 = FUNC_RE.sub("(", s3)
    names = []
    for m in IDENT_RE.finditer(s3):
        tok = m.group(1)
        if tok.upper() in ("TRUE", "FALSE"):
            continue
        bare = tok.replace("$", "")
        if looks_like_cell_ref(bare) or re.match(r"^[A-Za-z]{1,3}$", bare) and \
                re.search(re.escape(tok) + r"\s*:|:\s*" + re.escape(tok), s3):
            continue
        if re.match(r"^\$?[A-Za-z]{1,3}\$?\d+$", tok):
            continue
        names.append(tok)
    # depth of parentheses (function nesting upper bound) and max args per call
    depth = maxdepth = 0
    stack, maxargs = [], 0
    for ch in s2:
        if ch == "(":
            depth += 1
            maxdepth = max(maxdepth, depth)
            stack.append(1)
        elif ch == ")":
            depth -= 1
            if stack:
                maxargs = max(maxargs, stack.pop())
        elif ch == "," and stack:
            stack[-1] += 1
    return {"functions": funcs, "sheets": sheets, "tables": tables, "names": names,
            "depth": maxdepth, "args": maxargs, "at": "@" in s2}


def function_issue(fn):
    """Classify a function token as stored in the file. Returns (severity, message) or None."""
    raw = fn
    up = fn.upper()
    prefixed = up.startswith("_XLFN.")
    base = re.sub(r"^(_XLFN\.)?(_XLWS\.)?", "", up)
    if base in FUTURE:
        if not prefixed:
            return ("REPAIR" if False else "MAYBE",
                    f"{raw}: Excel {FUTURE[base]}+ function stored without _xlfn. prefix "
                    f"(Excel shows #NAME? until the cell is re-entered)")
        if base in XLWS and "_XLWS." not in up:
            return ("MAYBE", f"{raw}: needs _xlfn._xlws. prefix")
        return None
    if base in LEGACY:
        if prefixed:
            return ("MAYBE", f"{raw}: legacy function stored with an _xlfn. prefix")
        return None
    return ("MAYBE", f"{raw}: not a known Excel function (#NAME? unless it is a UDF/add-in "
                     f"function or missing from this checker's catalogue)")


# ----------------------------------------------------------------------------- checker
class Checker:
    def __init__(self, path):
        self.path = path
        self.findings = []
        self.functions = collections.Counter()
        self.fn_where = collections.defaultdict(set)
        self.stats = collections.Counter()

    # -- reporting
    def add(self, sev, check, part, msg, snip=""):
        self.findings.append({"severity": sev, "check": check, "part": part,
                              "message": msg, "snippet": snip})

    def xml(self, part):
        try:
            return ET.fromstring(self.z.read(part))
        except KeyError:
            return None

    # -- entry
    def run(self):
        try:
            self.z = zipfile.ZipFile(self.path)
        except zipfile.BadZipFile as e:
            self.add("REPAIR", "package", "", f"not a zip: {e}")
            return self
        self.check_package()
        if self.wb_part:
            self.check_workbook()
            self.check_styles()
            self.check_sst()
            self.check_sheets()
            self.check_tables_global()
            self.check_defined_name_refs()
            self.check_charts()
            self.check_vba()
        return self

    # ------------------------------------------------------------------ package level
    def check_package(self):
        infos = self.z.infolist()
        names = [i.filename for i in infos]
        dup = [n for n, k in collections.Counter(n.lower() for n in names).items() if k > 1]
        if dup:
            self.add("REPAIR", "package", "", f"duplicate zip entries: {dup}")
        self.parts = {n for n in names if not n.endswith("/")}
        bad = [n for n in self.parts if "\\" in n]
        if bad:
            self.add("REPAIR", "package", "", f"backslash in part names: {bad[:5]}")
        # well-formed XML
        for p in sorted(self.parts):
            if p.endswith((".xml", ".rels", ".vml")):
                try:
                    ET.fromstring(self.z.read(p))
                except ET.ParseError as e:
                    raw = self.z.read(p)
                    bad = re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]", raw)
                    self.add("REPAIR", "xml", p, f"not well-formed XML: {e}"
                             + (f" (XML-illegal control character {raw[bad.start():bad.start()+1]!r})"
                                if bad else ""),
                             raw[max(0, bad.start() - 120): bad.start() + 40].decode("utf-8", "replace")
                             if bad else "")
        # content types
        if "[Content_Types].xml" not in self.parts:
            self.add("REPAIR", "content-types", "", "[Content_Types].xml missing")
            self.wb_part = None
            return
        ct = self.xml("[Content_Types].xml")
        self.defaults, self.overrides = {}, {}
        for d in ct.findall(q(CTNS, "Default")):
            e = d.get("Extension", "").lower()
            if e in self.defaults:
                self.add("REPAIR", "content-types", "[Content_Types].xml",
                         f"duplicate Default for extension {e}")
            self.defaults[e] = d.get("ContentType")
        for o in ct.findall(q(CTNS, "Override")):
            pn = o.get("PartName", "")
            key = pn.lstrip("/").lower()
            if key in self.overrides:
                self.add("REPAIR", "content-types", "[Content_Types].xml",
                         f"duplicate Override for {pn}")
            self.overrides[key] = o.get("ContentType")
            if not pn.startswith("/"):
                self.add("REPAIR", "content-types", "[Content_Types].xml",
                         f"Override PartName not absolute: {pn}")
        lower_parts = {p.lower(): p for p in self.parts}
        for key in self.overrides:
            if key not in lower_parts:
                self.add("MAYBE", "content-types", "[Content_Types].xml",
                         f"Override for a part that does not exist: /{key}")
        for p in self.parts:
            if p == "[Content_Types].xml":
                continue
            if self.ctype(p) is None:
                self.add("REPAIR", "content-types", p, "part has no content type "
                         "(no Override, no Default for its extension)")
        # relationships
        self.rels = {}
        for p in sorted(self.parts):
            if not p.endswith(".rels"):
                continue
            d, b = posixpath.split(p)
            src = "" if p == "_rels/.rels" else posixpath.join(posixpath.dirname(d), b[:-5])
            if src and src not in self.parts:
                self.add("COSMETIC", "relationships", p, f"rels for a missing part {src}")
            root = self.xml(p)
            if root is None:
                continue
            ids = collections.Counter()
            lst = []
            for r in root.findall(q(PR, "Relationship")):
                rid, typ, tgt = r.get("Id"), r.get("Type"), r.get("Target", "")
                ids[rid] += 1
                ext = r.get("TargetMode") == "External"
                full = None if ext else resolve(src, tgt)
                if not ext and full not in self.parts:
                    self.add("REPAIR", "relationships", p,
                             f"{rid} ({typ.rsplit('/', 1)[-1]}) target missing: {tgt} -> {full}",
                             snippet(self.z.read(p), f'Id="{rid}"'))
                elif not ext and typ in REL_CT and self.ctype(full) != REL_CT[typ]:
                    self.add("REPAIR", "relationships", p,
                             f"{rid} target {full} has content type {self.ctype(full)}, "
                             f"expected {REL_CT[typ]}")
                lst.append({"Id": rid, "Type": typ, "Target": full, "External": ext})
            for rid, k in ids.items():
                if k > 1:
                    self.add("REPAIR", "relationships", p, f"duplicate relationship Id {rid}")
            self.rels[src] = lst
        # orphan parts (not reachable)
        reach, todo = set(), [""]
        while todo:
            s = todo.pop()
            for r in self.rels.get(s, []):
                t = r["Target"]
                if not r["External"] and t not in reach:
                    reach.add(t)
                    todo.append(t)
        for p in sorted(self.parts):
            if p.endswith(".rels") or p == "[Content_Types].xml":
                continue
            if p not in reach:
                self.add("COSMETIC", "relationships", p,
                         "part not reachable from any relationship (ignored by Excel)")
        # main document
        off = [r for r in self.rels.get("", []) if r["Type"] == RT["officeDocument"]]
        if len(off) != 1:
            self.add("REPAIR", "package", "_rels/.rels",
                     f"{len(off)} officeDocument relationships")
            self.wb_part = None
            return
        self.wb_part = off[0]["Target"]
        ext = self.path.lower().rsplit(".", 1)[-1]
        want = {"xlsx": CT["xlsx_main"], "xlsm": CT["xlsm_main"], "xltx": CT["xltx_main"],
                "xltm": CT["xltm_main"]}.get(ext)
        got = self.ctype(self.wb_part)
        if want and got != want:
            self.add("REPAIR", "content-types", self.wb_part,
                     f".{ext} file but workbook content type is {got} (Excel refuses: "
                     f"'file format or file extension is not valid')")
        self.stats["parts"] = len(self.parts)

    def ctype(self, part):
        if part is None:
            return None
        o = self.overrides.get(part.lower())
        if o:
            return o
        ext = part.rsplit(".", 1)[-1].lower() if "." in part.rsplit("/", 1)[-1] else ""
        return self.defaults.get(ext)

    def rels_of(self, part):
        return self.rels.get(part, [])

    def rel_target(self, part, rid):
        for r in self.rels_of(part):
            if r["Id"] == rid:
                return r
        return None

    # ------------------------------------------------------------------ workbook
    def check_workbook(self):
        p = self.wb_part
        raw = self.z.read(p)
        wb = ET.fromstring(raw)
        self.order_check(wb, WB_ORDER, p, "workbook")
        self.sheets = []  # dicts name, part, state, index
        names_ci = collections.Counter()
        ids = collections.Counter()
        for i, s in enumerate(wb.iter(q(M, "sheet"))):
            name, sid, rid = s.get("name", ""), s.get("sheetId"), s.get(q(R, "id"))
            state = s.get("state", "visible")
            names_ci[name.upper()] += 1
            ids[sid] += 1
            rel = self.rel_target(p, rid)
            part = rel["Target"] if rel else None
            kind = rel["Type"].rsplit("/", 1)[-1] if rel else None
            if rel is None:
                self.add("REPAIR", "sheets", p, f"sheet '{name}' r:id {rid} has no relationship")
            bad = re.findall(r"[\[\]:*?/\\]", name)
            if not name or len(name) > 31 or bad or name.startswith("'") or name.endswith("'"):
                self.add("REPAIR", "sheet-name", p, f"invalid sheet name {name!r} "
                         f"(len {len(name)}, bad chars {bad})")
            if name.lower() == "history":
                self.add("INFO", "sheet-name", p,
                         f"sheet name {name!r} is reserved in Excel's UI (Track Changes); "
                         "files with it open fine, but users cannot create/rename a sheet "
                         "to that name in Excel")
            if not sid or not sid.isdigit() or int(sid) < 1:
                self.add("REPAIR", "sheets", p, f"sheet '{name}' bad sheetId {sid}")
            self.sheets.append({"name": name, "part": part, "state": state, "index": i,
                                "kind": kind})
        for n, k in names_ci.items():
            if k > 1:
                self.add("REPAIR", "sheet-name", p, f"duplicate sheet name (case-insensitive) {n}")
        for sid, k in ids.items():
            if k > 1:
                self.add("REPAIR", "sheets", p, f"duplicate sheetId {sid}")
        if self.sheets and all(s["state"] != "visible" for s in self.sheets):
            self.add("REPAIR", "sheets", p, "no visible sheet")
        self.sheet_names = {s["name"].upper(): s for s in self.sheets}
        for bv in wb.iter(q(M, "workbookView")):
            at = int(bv.get("activeTab", "0"))
            if at >= len(self.sheets):
                self.add("MAYBE", "bookViews", p, f"activeTab {at} out of range")
            elif self.sheets[at]["state"] != "visible":
                self.add("MAYBE", "bookViews", p,
                         f"activeTab {at} is hidden sheet '{self.sheets[at]['name']}'")
            ft = int(bv.get("firstSheet", "0"))
            if ft >= len(self.sheets):
                self.add("MAYBE", "bookViews", p, f"firstSheet {ft} out of range")
        # defined names
        self.defined = []
        seen = collections.Counter()
        for dn in wb.iter(q(M, "definedName")):
            name, lsid, text = dn.get("name", ""), dn.get("localSheetId"), (dn.text or "")
            self.defined.append({"name": name, "local": lsid, "text": text,
                                 "hidden": dn.get("hidden") == "1"})
            seen[(name.upper(), lsid)] += 1
            if name.startswith("_xlnm."):
                if name not in XLNM:
                    self.add("MAYBE", "definedNames", p, f"unknown built-in name {name}")
                if name in ("_xlnm.Print_Area", "_xlnm.Print_Titles",
                            "_xlnm._FilterDatabase") and lsid is None:
                    self.add("REPAIR", "definedNames", p, f"{name} without localSheetId")
            elif not valid_name(name):
                self.add("REPAIR", "definedNames", p, f"invalid defined name {name!r}")
            if lsid is not None and (not lsid.isdigit() or int(lsid) >= len(self.sheets)):
                self.add("REPAIR", "definedNames", p, f"{name}: localSheetId {lsid} out of range")
            if not text.strip():
                self.add("REPAIR", "definedNames", p, f"{name}: empty formula")
            if text.startswith("="):
                self.add("REPAIR", "definedNames", p, f"{name}: formula starts with '='")
            if "#REF!" in text:
                self.add("MAYBE", "definedNames", p, f"{name} refers to #REF!: {text}")
            self.formula_common(text, p, f"definedName {name}", context="name")
            if name == "_xlnm.Print_Titles":
                for piece in text.split(","):
                    rng = piece.split("!")[-1]
                    if not re.match(r"^\$?[A-Z]{1,3}:\$?[A-Z]{1,3}$|^\$?\d+:\$?\d+$", rng):
                        self.add("REPAIR", "definedNames", p,
                                 f"Print_Titles must be whole rows/cols: {text}")
        for (n, l), k in seen.items():
            if k > 1:
                self.add("REPAIR", "definedNames", p,
                         f"duplicate defined name {n} in scope {l or 'workbook'}")
        calc = wb.find(q(M, "calcPr"))
        self.full_calc = calc is not None and calc.get("fullCalcOnLoad") in ("1", "true")
        self.stats["sheets"] = len(self.sheets)
        self.stats["definedNames"] = len(self.defined)

    def order_check(self, root, order, part, what):
        idx = {n: i for i, n in enumerate(order)}
        last, lastname = -1, None
        for ch in root:
            if not isinstance(ch.tag, str):
                continue
            ns, _, local = ch.tag[1:].partition("}")
            if ns == MC:
                continue
            if ns != M:
                self.add("MAYBE", "element-order", part, f"{what}: foreign element {ch.tag}")
                continue
            if local not in idx:
                self.add("REPAIR", "element-order", part, f"{what}: unknown element <{local}>")
                continue
            if idx[local] < last:
                self.add("REPAIR", "element-order", part,
                         f"{what}: <{local}> after <{lastname}> (schema order)")
            last, lastname = idx[local], local

    # ------------------------------------------------------------------ styles
    def check_styles(self):
        rel = [r for r in self.rels_of(self.wb_part) if r["Type"] == RT["styles"]]
        self.n_xf = self.n_dxf = 0
        self.table_styles = set()
        if not rel:
            self.add("MAYBE", "styles", self.wb_part, "no styles part")
            return
        p = rel[0]["Target"]
        st = self.xml(p)
        if st is None:
            return
        counts = {}
        for tag in ("numFmts", "fonts", "fills", "borders", "cellStyleXfs", "cellXfs",
                    "cellStyles", "dxfs", "tableStyles"):
            el = st.find(q(M, tag))
            if el is None:
                continue
            kids = [c for c in el if isinstance(c.tag, str)]
            counts[tag] = len(kids)
            if el.get("count") is not None and int(el.get("count")) != len(kids):
                self.add("COSMETIC", "styles-count", p,
                         f"<{tag} count={el.get('count')}> has {len(kids)} children")
        nfs = st.find(q(M, "numFmts"))
        nflist = nfs.findall(q(M, "numFmt")) if nfs is not None else []
        numfmts = {int(n.get("numFmtId")) for n in nflist}
        ids = [int(n.get("numFmtId")) for n in nflist]
        if len(ids) != len(set(ids)):
            self.add("REPAIR", "styles", p, "duplicate numFmtId")
        fills = st.find(q(M, "fills"))
        if fills is not None:
            pats = [f.find(q(M, "patternFill")) for f in fills]
            pt = [(pp.get("patternType") or "none") if pp is not None else None
                  for pp in pats[:2]]
            if pt != ["none", "gray125"]:
                self.add("COSMETIC", "styles", p,
                         f"first two fills should be none, gray125; got {pt}")
        cx = st.find(q(M, "cellXfs"))
        self.n_xf = counts.get("cellXfs", 0)
        self.n_dxf = counts.get("dxfs", 0)
        if cx is not None:
            for i, xf in enumerate(cx):
                for attr, tag in (("fontId", "fonts"), ("fillId", "fills"),
                                  ("borderId", "borders"), ("xfId", "cellStyleXfs")):
                    v = xf.get(attr)
                    if v is not None and int(v) >= counts.get(tag, 0):
                        self.add("REPAIR", "styles", p,
                                 f"cellXfs[{i}] {attr}={v} >= {counts.get(tag, 0)} {tag}")
                nf = int(xf.get("numFmtId", "0"))
                if nf >= 164 and nf not in numfmts:
                    self.add("REPAIR", "styles", p, f"cellXfs[{i}] numFmtId {nf} undefined")
                elif 50 <= nf < 164 and nf not in numfmts:
                    self.add("MAYBE", "styles", p,
                             f"cellXfs[{i}] numFmtId {nf}: locale-specific built-in id")
        for ts in st.iter(q(M, "tableStyle")):
            self.table_styles.add(ts.get("name"))
        self.stats["cellXfs"] = self.n_xf
        self.stats["dxfs"] = self.n_dxf

    # ------------------------------------------------------------------ shared strings
    def check_sst(self):
        rel = [r for r in self.rels_of(self.wb_part) if r["Type"] == RT["sharedStrings"]]
        self.sst = []
        if not rel:
            return
        p = rel[0]["Target"]
        sst = self.xml(p)
        if sst is None:
            return
        for si in sst.findall(q(M, "si")):
            self.sst.append("".join(t.text or "" for t in si.iter(q(M, "t"))
                                    if not self._in_rph(si, t)))
        n = len(self.sst)
        uc, cnt = sst.get("uniqueCount"), sst.get("count")
        if uc is not None and int(uc) != n:
            self.add("COSMETIC", "sharedStrings", p, f"uniqueCount={uc} but {n} <si>")
        self.sst_part = p
        self.sst_count_attr = int(cnt) if cnt is not None else None
        self.sst_refs = 0

    @staticmethod
    def _in_rph(si, t):
        for rph in si.findall(q(M, "rPh")):
            if t in list(rph.iter()):
                return True
        return False

    def cell_text(self, c):
        t = c.get("t")
        if t == "s":
            v = c.find(q(M, "v"))
            try:
                return self.sst[int(v.text)]
            except Exception:
                return None
        if t == "inlineStr":
            is_ = c.find(q(M, "is"))
            return "".join(x.text or "" for x in is_.iter(q(M, "t"))) if is_ is not None else ""
        if t == "str":
            v = c.find(q(M, "v"))
            return v.text if v is not None else ""
        v = c.find(q(M, "v"))
        return v.text if v is not None else None

    # ------------------------------------------------------------------ sheets
    def check_sheets(self):
        self.tables = []  # dicts
        self.sheet_cells = {}
        self.sheet_merges = {}
        for sh in self.sheets:
            if sh["kind"] != "worksheet" or sh["part"] is None:
                continue
            self.check_sheet(sh)
        if getattr(self, "sst_part", None) and self.sst_count_attr is not None \
                and self.sst_count_attr < self.sst_refs:
            self.add("COSMETIC", "sharedStrings", self.sst_part,
                     f"count={self.sst_count_attr} < {self.sst_refs} references")

    def check_sheet(self, sh):
        p, name = sh["part"], sh["name"]
        raw = self.z.read(p)
        try:
            ws = ET.fromstring(raw)
        except ET.ParseError as e:
            bad = re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]", raw)
            self.add("REPAIR", "xml", p, f"worksheet '{name}' is not well-formed XML ({e}); "
                     "Excel replaces the part (its cells are lost)",
                     raw[max(0, bad.start() - 120): bad.start() + 40].decode("utf-8", "replace")
                     if bad else "")
            self.sheet_cells[name] = {}
            return
        self.order_check(ws, WS_ORDER, p, f"worksheet '{name}'")
        # cols
        cols = ws.find(q(M, "cols"))
        if cols is not None:
            prev = 0
            for col in cols.findall(q(M, "col")):
                mn, mx = int(col.get("min", 0)), int(col.get("max", 0))
                if not (1 <= mn <= mx <= MAX_COL):
                    self.add("REPAIR", "cols", p, f"'{name}': bad col min={mn} max={mx}")
                if mn <= prev:
                    self.add("MAYBE", "cols", p,
                             f"'{name}': overlapping/unsorted <col> ranges at min={mn} "
                             f"(Excel ignores some of them: wrong widths; may repair)",
                             snippet(raw, f'min="{mn}"', 160))
                prev = max(prev, mx)
                w = col.get("width")
                if w is not None:
                    w = float(w)
                    if w < 0 or w > 255:
                        self.add("REPAIR", "cols", p, f"'{name}': col {mn}-{mx} width {w} > 255")
                    elif w > 100:
                        self.add("INFO", "cols", p,
                                 f"'{name}': col {num2col(mn)} width {w:g} (wide)")
                s = col.get("style")
                if s is not None and int(s) >= self.n_xf:
                    self.add("REPAIR", "styles", p, f"'{name}': col style {s} >= {self.n_xf}")
        # dimension
        dim = ws.find(q(M, "dimension"))
        if dim is not None and parse_range(dim.get("ref", "")) is None:
            self.add("MAYBE", "dimension", p, f"'{name}': bad dimension {dim.get('ref')}")
        # sheetData
        cells = {}
        shared_masters, shared_children = set(), collections.defaultdict(list)
        last_r = 0
        array_refs = []
        for row in ws.iter(q(M, "row")):
            r = row.get("r")
            rn = int(r) if r else last_r + 1
            if rn <= last_r or rn > MAX_ROW:
                self.add("REPAIR", "sheetData", p, f"'{name}': row {rn} out of order/range")
            last_r = rn
            ht = row.get("ht")
            if ht is not None and float(ht) > 409:
                self.add("REPAIR", "sheetData", p, f"'{name}': row {rn} height {ht} > 409")
            s = row.get("s")
            if s is not None and int(s) >= self.n_xf:
                self.add("REPAIR", "styles", p, f"'{name}': row {rn} style {s} >= {self.n_xf}")
            last_c = 0
            for c in row.findall(q(M, "c")):
                ref = c.get("r")
                if ref:
                    pc = parse_cell(ref)
                    if pc is None or pc[1] != rn:
                        self.add("REPAIR", "sheetData", p, f"'{name}': bad cell ref {ref} in row {rn}")
                        continue
                    cn = pc[0]
                else:
                    cn = last_c + 1
                if cn <= last_c:
                    self.add("REPAIR", "sheetData", p,
                             f"'{name}': cell {num2col(cn)}{rn} out of order / duplicate")
                last_c = cn
                cells[(cn, rn)] = c
                self.stats["cells"] += 1
                s = c.get("s")
                if s is not None and int(s) >= self.n_xf:
                    self.add("REPAIR", "styles", p,
                             f"'{name}'!{num2col(cn)}{rn}: style {s} >= {self.n_xf} cellXfs")
                t = c.get("t", "n")
                v = c.find(q(M, "v"))
                if t not in ("b", "d", "e", "inlineStr", "n", "s", "str"):
                    self.add("REPAIR", "sheetData", p, f"'{name}'!{num2col(cn)}{rn}: t={t}")
                elif t == "s":
                    self.sst_refs = getattr(self, "sst_refs", 0) + 1
                    try:
                        k = int(v.text)
                        if k >= len(self.sst):
                            raise ValueError
                    except Exception:
                        self.add("REPAIR", "sheetData", p,
                                 f"'{name}'!{num2col(cn)}{rn}: shared string index "
                                 f"{v.text if v is not None else None} >= {len(self.sst)}")
                elif t == "b" and v is not None and v.text not in ("0", "1", "true", "false"):
                    self.add("REPAIR", "sheetData", p, f"'{name}'!{num2col(cn)}{rn}: bool {v.text}")
                elif t == "n" and v is not None and (v.text or "").strip() == "":
                    self.stats["empty_v"] += 1   # <v/> - Excel treats as no cached value
                elif t == "n" and v is not None:
                    try:
                        x = float(v.text)
                        if x != x or x in (float("inf"), float("-inf")):
                            raise ValueError
                    except Exception:
                        self.add("REPAIR", "sheetData", p,
                                 f"'{name}'!{num2col(cn)}{rn}: number {v.text!r}",
                                 snippet(raw, f'r="{num2col(cn)}{rn}"'))
                elif t == "e" and v is not None and v.text not in ERRORS:
                    self.add("REPAIR", "sheetData", p, f"'{name}'!{num2col(cn)}{rn}: error {v.text}")
                elif t == "inlineStr" and c.find(q(M, "is")) is None:
                    # openpyxl writes empty strings this way; Excel reads a blank cell
                    self.stats["inlineStr_without_is"] += 1
                if t in ("s", "inlineStr", "str"):
                    txt = self.cell_text(c) or ""
                    if len(txt) > 32767:
                        self.add("REPAIR", "sheetData", p,
                                 f"'{name}'!{num2col(cn)}{rn}: text {len(txt)} chars > 32767")
                f = c.find(q(M, "f"))
                if f is not None:
                    ft = f.get("t", "normal")
                    where = f"'{name}'!{num2col(cn)}{rn}"
                    if ft == "shared":
                        si = f.get("si")
                        if f.get("ref"):
                            shared_masters.add(si)
                        else:
                            shared_children[si].append(where)
                    if ft == "array":
                        ar = parse_range(f.get("ref", ""))
                        if ar is None or not (ar[0] <= cn <= ar[2] and ar[1] <= rn <= ar[3]):
                            self.add("REPAIR", "array-formula", p,
                                     f"{where}: array ref {f.get('ref')} does not hold the cell")
                        else:
                            array_refs.append(ar)
                        self.stats["array_formulas"] += 1
                    if ft not in ("normal", "array", "shared", "dataTable"):
                        self.add("REPAIR", "formula", p, f"{where}: f t={ft}")
                    if f.text:
                        self.stats["formulas"] += 1
                        self.formula_common(f.text, p, where, context="cell", array=(ft == "array"),
                                            cell=c)
                    if c.get("cm") is not None:
                        self.stats["dynamic_array_cells"] += 1
        for si, where in shared_children.items():
            if si not in shared_masters:
                self.add("REPAIR", "formula", p, f"shared formula si={si} has no master ({where[:3]})")
        # overlapping array formula ranges
        array_refs.sort()
        for i in range(1, len(array_refs)):
            if overlap(array_refs[i - 1], array_refs[i]) and array_refs[i - 1] != array_refs[i]:
                self.add("REPAIR", "array-formula", p,
                         f"'{name}': overlapping array ranges {rstr(array_refs[i-1])} {rstr(array_refs[i])}")
        self.sheet_cells[name] = cells
        # merges
        merges = []
        mc = ws.find(q(M, "mergeCells"))
        if mc is not None:
            for m in mc.findall(q(M, "mergeCell")):
                rg = parse_range(m.get("ref", ""))
                if rg is None or (rg[0] == rg[2] and rg[1] == rg[3]):
                    self.add("REPAIR", "mergeCells", p, f"'{name}': bad merge {m.get('ref')}")
                    continue
                for o in merges:
                    if overlap(o, rg):
                        self.add("REPAIR", "mergeCells", p,
                                 f"'{name}': overlapping merges {rstr(o)} / {rstr(rg)}")
                merges.append(rg)
            if mc.get("count") and int(mc.get("count")) != len(mc):
                self.add("COSMETIC", "mergeCells", p, f"'{name}': mergeCells count mismatch")
        self.sheet_merges[name] = merges
        # sheet autofilter
        af = ws.find(q(M, "autoFilter"))
        sheet_af = parse_range(af.get("ref", "")) if af is not None else None
        # conditional formatting
        prios = collections.Counter()
        ncf = 0
        for cf in ws.findall(q(M, "conditionalFormatting")):
            sq = cf.get("sqref", "")
            for piece in sq.split():
                if parse_range(piece) is None:
                    self.add("REPAIR", "conditionalFormatting", p, f"'{name}': bad sqref {sq}")
            for rule in cf.findall(q(M, "cfRule")):
                ncf += 1
                typ = rule.get("type")
                pr = rule.get("priority")
                if pr is None or not pr.lstrip("-").isdigit():
                    self.add("REPAIR", "conditionalFormatting", p,
                             f"'{name}' {sq}: cfRule without integer priority")
                else:
                    prios[int(pr)] += 1
                dx = rule.get("dxfId")
                if dx is not None and int(dx) >= self.n_dxf:
                    self.add("REPAIR", "conditionalFormatting", p,
                             f"'{name}' {sq}: dxfId {dx} >= {self.n_dxf} dxfs",
                             snippet(raw, f'dxfId="{dx}"'))
                if typ in ("expression", "cellIs") and rule.find(q(M, "formula")) is None:
                    self.add("REPAIR", "conditionalFormatting", p,
                             f"'{name}' {sq}: {typ} rule without <formula>")
                if typ == "cellIs" and not rule.get("operator"):
                    self.add("REPAIR", "conditionalFormatting", p,
                             f"'{name}' {sq}: cellIs without operator")
                if typ in ("expression", "cellIs", "containsText", "beginsWith", "endsWith",
                           "notContainsText") and dx is None:
                    self.add("COSMETIC", "conditionalFormatting", p,
                             f"'{name}' {sq}: {typ} rule without dxfId (no visible format)")
                cs = rule.find(q(M, "colorScale"))
                if cs is not None:
                    nv, nc = len(cs.findall(q(M, "cfvo"))), len(cs.findall(q(M, "color")))
                    if nv not in (2, 3) or nv != nc:
                        self.add("REPAIR", "conditionalFormatting", p,
                                 f"'{name}' {sq}: colorScale {nv} cfvo / {nc} color")
                    for cfvo in cs.findall(q(M, "cfvo")):
                        self.cfvo_check(cfvo, p, name, sq)
                ic = rule.find(q(M, "iconSet"))
                if ic is not None:
                    setname = ic.get("iconSet", "3TrafficLights1")
                    want = int(setname[0]) if setname[0].isdigit() else 3
                    nv = len(ic.findall(q(M, "cfvo")))
                    if nv != want:
                        self.add("REPAIR", "conditionalFormatting", p,
                                 f"'{name}' {sq}: iconSet {setname} has {nv} cfvo, needs {want}")
                    for cfvo in ic.findall(q(M, "cfvo")):
                        self.cfvo_check(cfvo, p, name, sq)
                db = rule.find(q(M, "dataBar"))
                if db is not None and (len(db.findall(q(M, "cfvo"))) != 2 or db.find(q(M, "color")) is None):
                    self.add("REPAIR", "conditionalFormatting", p, f"'{name}' {sq}: bad dataBar")
                for fx in rule.findall(q(M, "formula")):
                    self.formula_common(fx.text or "", p, f"'{name}' CF {sq}", context="cf")
        for pr, k in prios.items():
            if k > 1:
                self.add("COSMETIC", "conditionalFormatting", p,
                         f"'{name}': priority {pr} used by {k} rules")
        self.stats["cf_rules"] += ncf
        # x14 conditional formats / data validations in extLst
        for x in ws.iter(q(X14, "conditionalFormatting")):
            self.stats["x14_cf"] += 1
        # data validations
        dvs = ws.find(q(M, "dataValidations"))
        if dvs is not None:
            lst = dvs.findall(q(M, "dataValidation"))
            if dvs.get("count") and int(dvs.get("count")) != len(lst):
                self.add("COSMETIC", "dataValidations", p,
                         f"'{name}': count={dvs.get('count')} but {len(lst)}")
            areas = []
            for dv in lst:
                sq = dv.get("sqref", "")
                typ = dv.get("type", "none")
                rgs = [parse_range(x) for x in sq.split()]
                if not rgs or any(r is None for r in rgs):
                    self.add("REPAIR", "dataValidations", p, f"'{name}': bad sqref {sq!r}")
                    continue
                for r in rgs:
                    for o, osq in areas:
                        if overlap(o, r):
                            self.add("MAYBE", "dataValidations", p,
                                     f"'{name}': validations overlap {osq} / {sq}")
                    areas.append((r, sq))
                f1 = dv.find(q(M, "formula1"))
                if typ not in ("none", "any") and (f1 is None or not (f1.text or "").strip()):
                    self.add("REPAIR", "dataValidations", p, f"'{name}' {sq}: {typ} without formula1")
                if typ == "list" and f1 is not None and (f1.text or "").startswith('"'):
                    inner = f1.text[1:-1]
                    if len(inner) > 255:
                        self.add("REPAIR", "dataValidations", p,
                                 f"'{name}' {sq}: list literal {len(inner)} chars > 255")
                for tag in ("formula1", "formula2"):
                    fe = dv.find(q(M, tag))
                    if fe is not None and fe.text:
                        self.formula_common(fe.text, p, f"'{name}' DV {sq}", context="dv")
                for attr, lim in (("promptTitle", 32), ("errorTitle", 32), ("prompt", 255),
                                  ("error", 225)):
                    v = dv.get(attr)
                    if v and len(v) > lim:
                        self.add("REPAIR", "dataValidations", p,
                                 f"'{name}' {sq}: {attr} {len(v)} chars > {lim}")
            self.stats["data_validations"] += len(lst)
        # hyperlinks
        for hl in ws.iter(q(M, "hyperlink")):
            rid = hl.get(q(R, "id"))
            if rid and not self.rel_target(p, rid):
                self.add("REPAIR", "hyperlinks", p, f"'{name}': hyperlink r:id {rid} missing")
        # drawing
        for tag in ("drawing", "legacyDrawing"):
            for d in ws.findall(q(M, tag)):
                rid = d.get(q(R, "id"))
                if not self.rel_target(p, rid):
                    self.add("REPAIR", "relationships", p, f"'{name}': <{tag}> r:id {rid} missing")
        # tables
        tps = ws.find(q(M, "tableParts"))
        tparts = []
        if tps is not None:
            tl = tps.findall(q(M, "tablePart"))
            if tps.get("count") and int(tps.get("count")) != len(tl):
                self.add("REPAIR", "tables", p, f"'{name}': tableParts count mismatch")
            for tp in tl:
                rel = self.rel_target(p, tp.get(q(R, "id")))
                if rel is None or rel["Type"] != RT["table"]:
                    self.add("REPAIR", "tables", p, f"'{name}': tablePart r:id missing / not a table")
                    continue
                tparts.append(rel["Target"])
        rel_tables = [r["Target"] for r in self.rels_of(p) if r["Type"] == RT["table"]]
        for t in rel_tables:
            if t not in tparts:
                self.add("REPAIR", "tables", p, f"'{name}': table {t} related but not in <tableParts>")
        for tpart in tparts:
            self.check_table(tpart, name, cells, merges, sheet_af)
        # sheetViews / panes
        for sv in ws.iter(q(M, "sheetView")):
            pane = sv.find(q(M, "pane"))
            if pane is not None and pane.get("topLeftCell") and \
                    parse_cell(pane.get("topLeftCell")) is None:
                self.add("REPAIR", "sheetViews", p, f"'{name}': bad pane topLeftCell")
            if sv.get("tabSelected") == "1" and sh["state"] != "visible":
                self.add("COSMETIC", "sheetViews", p, f"hidden sheet '{name}' is tabSelected")

    def cfvo_check(self, cfvo, p, name, sq):
        t = cfvo.get("type")
        if t not in ("num", "percent", "max", "min", "formula", "percentile"):
            self.add("REPAIR", "conditionalFormatting", p, f"'{name}' {sq}: cfvo type {t}")
        if t in ("num", "percent", "formula", "percentile") and cfvo.get("val") is None:
            self.add("REPAIR", "conditionalFormatting", p, f"'{name}' {sq}: cfvo {t} without val")
        v = cfvo.get("val")
        if v and not re.match(r"^-?[\d.]+(E[-+]?\d+)?$", v, re.I):
            self.formula_common(v, p, f"'{name}' CF cfvo {sq}", context="cf")

    # ------------------------------------------------------------------ tables
    def check_table(self, tpart, sheet, cells, merges, sheet_af):
        raw = self.z.read(tpart)
        try:
            t = ET.fromstring(raw)
        except ET.ParseError as e:
            self.add("REPAIR", "package", tpart, f"table part is not well-formed XML: {e}")
            return
        tid, name, disp = t.get("id"), t.get("name"), t.get("displayName")
        ref = parse_range(t.get("ref", ""))
        hdr = int(t.get("headerRowCount", "1"))
        tot = int(t.get("totalsRowCount", "0"))
        info = {"part": tpart, "sheet": sheet, "id": tid, "name": name, "display": disp,
                "ref": ref, "cols": []}
        self.tables.append(info)
        self.stats["tables"] += 1
        if ref is None:
            self.add("REPAIR", "tables", tpart, f"table {disp}: bad ref {t.get('ref')}")
            return
        for el in [t, *t.iter(q(M, "tableColumn"))]:
            for attr in ("headerRowDxfId", "dataDxfId", "totalsRowDxfId", "headerRowBorderDxfId",
                         "tableBorderDxfId", "totalsRowBorderDxfId"):
                v = el.get(attr)
                if v is not None and int(v) >= self.n_dxf:
                    self.add("REPAIR", "tables", tpart, f"table {disp}: {attr}={v} >= {self.n_dxf} dxfs")
        if not disp or not valid_name(disp):
            self.add("REPAIR", "tables", tpart, f"invalid table displayName {disp!r}")
        if name and not valid_name(name):
            self.add("REPAIR", "tables", tpart, f"invalid table name {name!r}")
        if name and disp and name != disp:
            self.add("COSMETIC", "tables", tpart, f"name {name} != displayName {disp}")
        nrows = ref[3] - ref[1] + 1
        if nrows < hdr + tot + 1:
            self.add("REPAIR", "tables", tpart,
                     f"table {disp} {t.get('ref')}: no data row (header {hdr}, totals {tot})")
        tcs = t.find(q(M, "tableColumns"))
        cols = tcs.findall(q(M, "tableColumn")) if tcs is not None else []
        width = ref[2] - ref[0] + 1
        if len(cols) != width:
            self.add("REPAIR", "tables", tpart,
                     f"table {disp}: {len(cols)} tableColumns but ref is {width} wide")
        if tcs is not None and tcs.get("count") and int(tcs.get("count")) != len(cols):
            self.add("REPAIR", "tables", tpart, f"table {disp}: tableColumns count mismatch")
        ids = collections.Counter(c.get("id") for c in cols)
        for k, n in ids.items():
            if n > 1:
                self.add("REPAIR", "tables", tpart, f"table {disp}: duplicate column id {k}")
        names = collections.Counter((c.get("name") or "").upper() for c in cols)
        for k, n in names.items():
            if n > 1:
                self.add("REPAIR", "tables", tpart, f"table {disp}: duplicate column name {k}")
        for i, col in enumerate(cols):
            cname = unescape_ooxml(col.get("name") or "")
            info["cols"].append(cname)
            if not cname:
                self.add("REPAIR", "tables", tpart, f"table {disp}: empty column name #{i + 1}")
            rawname = col.get("name") or ""
            if re.search(r"[\x00-\x1f]", rawname):
                self.add("REPAIR", "tables", tpart,
                         f"table {disp}: column name {rawname!r} holds a raw control character "
                         f"(line break/tab); Excel needs it escaped as _x000a_ / _x0009_ in "
                         f"the table part", snippet(raw, 'name="' + rawname.split(chr(10))[0][:20]))
            if len(cname) > 255:
                self.add("MAYBE", "tables", tpart,
                         f"table {disp}: column name {len(cname)} chars (> 255)")
            if hdr >= 1:
                addr = (ref[0] + i, ref[1])
                c = cells.get(addr)
                where = f"'{sheet}'!{num2col(addr[0])}{addr[1]}"
                if c is None:
                    self.add("REPAIR", "table-header", tpart,
                             f"table {disp}: header cell {where} missing, column is {cname!r}")
                    continue
                if c.find(q(M, "f")) is not None:
                    self.add("REPAIR", "table-header", tpart,
                             f"table {disp}: header cell {where} holds a formula")
                txt = self.cell_text(c)
                if c.get("t", "n") not in ("s", "inlineStr", "str"):
                    # numbers: compare the displayed text loosely
                    if txt is None or str(txt) != cname:
                        self.add("REPAIR", "table-header", tpart,
                                 f"table {disp}: header {where} = {txt!r} (non-text) "
                                 f"but column name {cname!r}")
                elif txt != cname:
                    self.add("REPAIR", "table-header", tpart,
                             f"table {disp}: header {where} = {txt!r} but column name {cname!r}")
            for fe in (col.find(q(M, "calculatedColumnFormula")),
                       col.find(q(M, "totalsRowFormula"))):
                if fe is not None and fe.text:
                    self.formula_common(fe.text, tpart, f"table {disp} column {cname}",
                                        context="cell")
        af = t.find(q(M, "autoFilter"))
        if af is not None:
            want = (ref[0], ref[1], ref[2], ref[3] - tot)
            got = parse_range(af.get("ref", ""))
            if got != want:
                self.add("REPAIR", "tables", tpart,
                         f"table {disp}: autoFilter {af.get('ref')} != table ref {rstr(want)}")
        tsi = t.find(q(M, "tableStyleInfo"))
        if tsi is not None and tsi.get("name") and tsi.get("name") not in BUILTIN_TABLE_STYLES \
                and tsi.get("name") not in self.table_styles:
            self.add("MAYBE", "tables", tpart, f"table {disp}: unknown style {tsi.get('name')}")
        for m in merges:
            if overlap(m, ref):
                self.add("REPAIR", "tables", tpart,
                         f"table {disp} {rstr(ref)} overlaps merged cells {rstr(m)}")
        if sheet_af is not None and overlap(sheet_af, ref):
            self.add("REPAIR", "tables", tpart, f"table {disp} overlaps the sheet autoFilter")

    def check_tables_global(self):
        ids = collections.Counter(t["id"] for t in self.tables)
        for k, n in ids.items():
            if n > 1:
                parts = [t["part"] for t in self.tables if t["id"] == k]
                self.add("REPAIR", "tables", ",".join(parts), f"table id {k} used {n} times")
        nm = collections.Counter()
        for t in self.tables:
            nm[(t["display"] or "").upper()] += 1
            if t["name"] and t["name"] != t["display"]:
                nm[t["name"].upper()] += 1
        for k, n in nm.items():
            if n > 1:
                self.add("REPAIR", "tables", "", f"table name {k} used {n} times")
        dn = {d["name"].upper() for d in self.defined}
        for t in self.tables:
            if (t["display"] or "").upper() in dn:
                self.add("REPAIR", "tables", t["part"],
                         f"table {t['display']} has the same name as a defined name")
        by_sheet = collections.defaultdict(list)
        for t in self.tables:
            if t["ref"]:
                by_sheet[t["sheet"]].append(t)
        for sheet, ts in by_sheet.items():
            for i in range(len(ts)):
                for j in range(i + 1, len(ts)):
                    if overlap(ts[i]["ref"], ts[j]["ref"]):
                        self.add("REPAIR", "tables", ts[i]["part"],
                                 f"tables {ts[i]['display']} {rstr(ts[i]['ref'])} and "
                                 f"{ts[j]['display']} {rstr(ts[j]['ref'])} overlap on '{sheet}'")
        # deferred structured-reference checks
        tmap = {t["display"].upper(): t for t in self.tables if t["display"]}
        for (tname, inner, part, where) in getattr(self, "_pending_srefs", []):
            if tname is None:
                self.add("MAYBE", "structured-ref", part,
                         f"{where}: table-less structured reference [{inner}] outside a table")
                continue
            t = tmap.get(tname.upper())
            if t is None:
                self.add("MAYBE", "structured-ref", part,
                         f"{where}: structured reference to unknown table {tname}[{inner}] "
                         f"(#REF! / repair)")
                continue
            colnames = {c.upper() for c in t["cols"]}
            for piece in re.findall(r"\[([^\[\]]*)\]", "[" + inner + "]") if "[" in inner \
                    else [inner]:
                piece = re.sub(r"'(.)", r"\1", piece).strip()
                if not piece or piece.startswith("#"):
                    continue
                if piece.upper() not in colnames:
                    self.add("MAYBE", "structured-ref", part,
                             f"{where}: {tname}[{inner}]: column {piece!r} not in table")

    def check_defined_name_refs(self):
        """Names used in formulas exist (as defined names or tables)."""
        known = {d["name"].upper() for d in self.defined} | \
                {(t["display"] or "").upper() for t in self.tables}
        for (nm, part, where) in getattr(self, "_pending_names", []):
            if nm.upper() not in known:
                self.add("MAYBE", "names", part, f"{where}: name {nm!r} is not defined (#NAME?)")

    # ------------------------------------------------------------------ formulas (shared)
    def formula_common(self, text, part, where, context, array=False, cell=None):
        if text is None:
            return
        if text.startswith("="):
            self.add("REPAIR", "formula", part, f"{where}: stored formula begins with '='")
        if len(text) > 8192:
            self.add("REPAIR", "formula", part, f"{where}: formula {len(text)} chars > 8192")
        # formulas filled down a column differ only in row numbers: analyse each
        # distinct shape once (findings are reported for its first cell)
        shape = (ROW_RE.sub(r"\g<1>1", text), part, context, array,
                 cell.get("cm") if cell is not None else None)
        seen = self.__dict__.setdefault("_shapes", {})
        if shape in seen:
            for fn in seen[shape]:
                self.functions[fn.upper()] += 1
            self.stats["formulas_same_shape"] += 1
            return
        a = analyse_formula(text)
        seen[shape] = a["functions"]
        if a["depth"] > 64:
            self.add("REPAIR", "formula", part, f"{where}: nesting {a['depth']} > 64")
        if a["args"] > 255:
            self.add("REPAIR", "formula", part, f"{where}: {a['args']} arguments > 255")
        if a["at"]:
            self.add("REPAIR", "formula", part,
                     f"{where}: literal '@' in stored formula (file format needs _xlfn.SINGLE)")
        for fn in a["functions"]:
            self.functions[fn.upper()] += 1
            self.fn_where[fn.upper()].add(context)
            iss = function_issue(fn)
            if iss:
                self.add(iss[0], "functions", part, f"{where}: {iss[1]}")
            base = re.sub(r"^(_XLFN\.)?(_XLWS\.)?", "", fn.upper())
            if base in DYNAMIC_ARRAY and context == "cell" and cell is not None \
                    and cell.get("cm") is None and not array:
                self.add("MAYBE", "dynamic-array", part,
                         f"{where}: {base} in a legacy (non-spill) cell: Excel 365 shows '@' "
                         f"and returns one value")
        for sname in a["sheets"]:
            if sname.upper() not in getattr(self, "sheet_names", {}) and not sname.startswith("["):
                self.add("MAYBE", "formula", part, f"{where}: reference to unknown sheet {sname!r}")
        for tname, inner in a["tables"]:
            if context in ("cf", "dv"):
                self.add("REPAIR", "formula", part,
                         f"{where}: structured reference {tname}[{inner}] is not allowed in "
                         f"{'conditional formats' if context == 'cf' else 'data validation'}")
            self.__dict__.setdefault("_pending_srefs", []).append((tname, inner, part, where))
        if context == "cf" and a["sheets"]:
            self.add("INFO", "formula", part,
                     f"{where}: cross-sheet reference in a conditional format "
                     f"(Excel 2010+ only; Excel 2007 rejects)")
        for nm in a["names"]:
            self.__dict__.setdefault("_pending_names", []).append((nm, part, where))
        if context == "cell" and not array:
            self.legacy_array_semantics(text, part, where)

    def legacy_array_semantics(self, text, part, where):
        """Non-CSE formulas whose result depends on array evaluation of IF() etc. over
        ranges: LibreOffice forces array mode inside SUMPRODUCT (incl. nested IF), legacy
        Excel (and Excel 365 on a legacy formula, shown with '@') does not."""
        s = STR_RE.sub('""', text)
        rng = r"(?:'[^']+'|[A-Za-z_][\w.]*)?!?\$?[A-Z]{1,3}\$?\d+:\$?[A-Z]{1,3}\$?\d+"
        for m in re.finditer(r"SUMPRODUCT\(", s, re.I):
            # find the argument text of this SUMPRODUCT
            depth, j = 0, m.end() - 1
            for j in range(m.end() - 1, len(s)):
                if s[j] == "(":
                    depth += 1
                elif s[j] == ")":
                    depth -= 1
                    if depth == 0:
                        break
            inner = s[m.end():j]
            for fm in re.finditer(r"(?<![\w.])(IF|IFERROR|CHOOSE|INDEX|VLOOKUP|MATCH|TRIM|"
                                  r"LEFT|MID|RIGHT|LEN|VALUE|N|T|DATE|YEAR|MONTH)\(", inner,
                                  re.I):
                # range (multi-cell) passed to a scalar argument inside these functions
                d2, k = 0, fm.end() - 1
                for k in range(fm.end() - 1, len(inner)):
                    if inner[k] == "(":
                        d2 += 1
                    elif inner[k] == ")":
                        d2 -= 1
                        if d2 == 0:
                            break
                args = inner[fm.end():k]
                name = fm.group(1).upper()
                if name == "INDEX":
                    # INDEX(range, row, 0) returns a reference: fine. Scalar row/col args
                    # given a range need array evaluation.
                    parts = split_args(args)
                    if any(re.search(rng, x) for x in parts[1:]):
                        self.add("MAYBE", "array-semantics", part,
                                 f"{where}: INDEX with a range in row/col argument inside "
                                 f"SUMPRODUCT (needs CSE in Excel 2016): {text[:160]}")
                    continue
                if name == "MATCH":
                    parts = split_args(args)
                    if parts and re.search(rng, parts[0]):
                        self.add("MAYBE", "array-semantics", part,
                                 f"{where}: MATCH lookup_value is a range inside SUMPRODUCT "
                                 f"(needs CSE in Excel 2016): {text[:160]}")
                    continue
                if re.search(rng, args):
                    self.add("MAYBE", "array-semantics", part,
                             f"{where}: {name}() over a range inside SUMPRODUCT without CSE: "
                             f"LibreOffice array-evaluates it, Excel 2016 applies implicit "
                             f"intersection (Excel 365 shows '@'): {text[:160]}")
        # IF/LARGE/SMALL/MATCH(…COUNTIF(range,range)…) patterns outside SUMPRODUCT
        if re.search(r"(?:LARGE|SMALL|QUARTILE[\w.]*|PERCENTILE[\w.]*|MEDIAN|MAX|MIN|AVERAGE)\(\s*IF\(", s, re.I):
            self.add("MAYBE", "array-semantics", part,
                     f"{where}: aggregate(IF(range…)) in a non-array cell (needs CSE in "
                     f"Excel 2016): {text[:160]}")
        if re.search(r"COUNTIF\([^()]*" + rng + r"[^()]*," + rng, s, re.I) and \
                re.search(r"MATCH\(", s, re.I):
            self.add("MAYBE", "array-semantics", part,
                     f"{where}: MATCH(…COUNTIF(range, range)…) in a non-array cell: {text[:160]}")

    # ------------------------------------------------------------------ charts
    def check_charts(self):
        for p in sorted(self.parts):
            if self.ctype(p) != CT["chart"]:
                continue
            raw = self.z.read(p)
            ch = ET.fromstring(raw)
            self.stats["charts"] += 1
            for f in ch.iter(q(C, "f")):
                txt = (f.text or "").strip()
                if not txt:
                    self.add("MAYBE", "charts", p, "empty <c:f>")
                    continue
                body = txt[1:-1] if txt.startswith("(") and txt.endswith(")") else txt
                for piece in split_args(body):
                    m = re.match(r"^(?:'((?:[^']|'')+)'|([^'!]+))!(.+)$", piece.strip())
                    if not m:
                        # may be a defined name
                        if piece.strip().upper() not in {d["name"].upper() for d in self.defined}:
                            self.add("MAYBE", "charts", p, f"<c:f>{txt}</c:f>: unparseable")
                        continue
                    sname = (m.group(1) or m.group(2)).replace("''", "'")
                    if m.group(2) and re.search(r"[^\w.]", sname):
                        self.add("REPAIR", "charts", p,
                                 f"<c:f>{txt}</c:f>: sheet name with spaces/specials not quoted")
                    if sname.upper() not in self.sheet_names:
                        self.add("MAYBE", "charts", p, f"<c:f>{txt}</c:f>: unknown sheet {sname!r}")
                    if parse_range(m.group(3).replace("$", "")) is None:
                        self.add("MAYBE", "charts", p, f"<c:f>{txt}</c:f>: bad range")
                    if "#REF!" in piece:
                        self.add("MAYBE", "charts", p, f"<c:f>{txt}</c:f>: #REF!")
            # cache vs range size
            bad_cache = []
            for ref_el in list(ch.iter(q(C, "numRef"))) + list(ch.iter(q(C, "strRef"))):
                f = ref_el.find(q(C, "f"))
                cache = ref_el.find(q(C, "numCache")) or ref_el.find(q(C, "strCache"))
                if f is None or cache is None:
                    continue
                pc = cache.find(q(C, "ptCount"))
                m = re.match(r"^(?:'(?:[^']|'')+'|[^'!]+)!(.+)$", (f.text or "").strip())
                if pc is not None and m:
                    rg = parse_range(m.group(1).replace("$", ""))
                    if rg:
                        n = (rg[2] - rg[0] + 1) * (rg[3] - rg[1] + 1)
                        if int(pc.get("val")) != n:
                            bad_cache.append(f"{f.text} ({pc.get('val')}/{n})")
            nocache = [f.text for r in list(ch.iter(q(C, "numRef"))) + list(ch.iter(q(C, "strRef")))
                       for f in [r.find(q(C, "f"))] if f is not None
                       and r.find(q(C, "numCache")) is None and r.find(q(C, "strCache")) is None]
            if bad_cache or nocache:
                self.add("COSMETIC", "charts", p,
                         f"chart caches empty/short (Excel refreshes them from the cells; "
                         f"non-recalculating viewers show an empty chart): "
                         f"{len(bad_cache)} short caches e.g. {bad_cache[:2]}, "
                         f"{len(nocache)} refs without cache e.g. {nocache[:2]}")
            cat_num = [r.find(q(C, "f")).text for cat in ch.iter(q(C, "cat"))
                       for r in cat.findall(q(C, "numRef")) if r.find(q(C, "f")) is not None]
            if cat_num:
                self.cat_numrefs = getattr(self, "cat_numrefs", []) + [(p, x) for x in cat_num]
        # drawings: anchors reference existing charts
        for p in sorted(self.parts):
            if self.ctype(p) != CT["drawing"]:
                continue
            d = ET.fromstring(self.z.read(p))
            for ce in d.iter(q(C, "chart")):
                rid = ce.get(q(R, "id"))
                rel = self.rel_target(p, rid)
                if rel is None:
                    self.add("REPAIR", "charts", p, f"drawing chart r:id {rid} missing")

    # ------------------------------------------------------------------ VBA
    def check_vba(self):
        vrel = [r for r in self.rels_of(self.wb_part) if r["Type"] == RT["vbaProject"]]
        ext = self.path.lower().rsplit(".", 1)[-1]
        has_bin = [p for p in self.parts if p.lower().endswith("vbaproject.bin")]
        if ext in ("xlsm", "xltm", "xlam"):
            if not has_bin:
                self.add("MAYBE", "vba", "", "macro-enabled file without vbaProject.bin")
            elif not vrel:
                self.add("REPAIR", "vba", self.wb_part, "vbaProject.bin not related from workbook")
            else:
                part = vrel[0]["Target"]
                if self.ctype(part) != CT["vbaProject"]:
                    self.add("REPAIR", "vba", part, f"vbaProject content type {self.ctype(part)}")
                data = self.z.read(part)
                streams = ole_streams(data)
                self.vba_modules = sorted(
                    n for n, typ, path in streams
                    if typ == 2 and path.endswith("/VBA") and n not in ("_VBA_PROJECT", "dir")
                    and not n.startswith("__SRP_"))
                self.stats["vba_bytes"] = len(data)
                if not data.startswith(b"\xd0\xcf\x11\xe0"):
                    self.add("REPAIR", "vba", part, "vbaProject.bin is not an OLE2 file")
        elif has_bin or vrel:
            self.add("REPAIR", "vba", self.wb_part,
                     ".xlsx with a VBA project (Excel refuses or strips it)")

    # ------------------------------------------------------------------ summary
    def summary(self):
        c = collections.Counter(f["severity"] for f in self.findings)
        return c


def split_args(s):
    out, depth, cur, instr = [], 0, "", False
    i = 0
    while i < len(s):
        ch = s[i]
        if ch == '"':
            instr = not instr
        elif ch == "'" and not instr:
            j = s.find("'", i + 1)
            while j != -1 and j + 1 < len(s) and s[j + 1] == "'":
                j = s.find("'", j + 2)
            if j == -1:
                j = len(s) - 1
            cur += s[i:j + 1]
            i = j + 1
            continue
        elif not instr and ch in "({":
            depth += 1
        elif not instr and ch in ")}":
            depth -= 1
        if ch == "," and depth == 0 and not instr:
            out.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    out.append(cur)
    return out


def ole_streams(data):
    """Names of the streams/storages in an OLE2 compound file (minimal reader):
    returns list of (name, type, parent_path)."""
    import struct
    if data[:8] != b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return []
    ssz = 1 << struct.unpack_from("<H", data, 0x1E)[0]
    first_dir = struct.unpack_from("<I", data, 0x30)[0]
    difat = list(struct.unpack_from("<109I", data, 0x4C))
    n_difat, first_difat = struct.unpack_from("<I", data, 0x48)[0], struct.unpack_from("<I", data, 0x44)[0]
    sec = lambda i: data[512 + i * ssz: 512 + (i + 1) * ssz]
    d = first_difat
    for _ in range(n_difat):
        vals = struct.unpack_from(f"<{ssz // 4}I", sec(d))
        difat += vals[:-1]
        d = vals[-1]
    fat = []
    for s in difat:
        if s >= 0xFFFFFFFA:
            continue
        fat += struct.unpack_from(f"<{ssz // 4}I", sec(s))
    chain, s = [], first_dir
    while s < 0xFFFFFFFA and len(chain) < 100000:
        chain.append(s)
        s = fat[s]
    raw = b"".join(sec(s) for s in chain)
    entries = []
    for off in range(0, len(raw), 128):
        e = raw[off:off + 128]
        if len(e) < 128:
            break
        ln = struct.unpack_from("<H", e, 64)[0]
        name = e[:max(0, ln - 2)].decode("utf-16-le", "replace")
        typ = e[66]
        left, right, child = struct.unpack_from("<III", e, 68)
        entries.append({"name": name, "type": typ, "left": left, "right": right, "child": child})
    out = []
    def walk(i, path, seen):
        if i >= len(entries) or i in seen or i == 0xFFFFFFFF:
            return
        seen.add(i)
        e = entries[i]
        walk(e["left"], path, seen)
        walk(e["right"], path, seen)
        out.append((e["name"], e["type"], path))
        if e["type"] in (1, 5) and e["child"] != 0xFFFFFFFF:
            walk(e["child"], path + "/" + e["name"] if e["type"] == 1 else "", seen)
    if entries:
        walk(entries[0]["child"], "", set())
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+")
    ap.add_argument("--json")
    ap.add_argument("--functions", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    allres, worst = [], 0
    fn_total = collections.Counter()
    fn_files = collections.defaultdict(set)
    fn_ctx = collections.defaultdict(set)
    for path in args.files:
        ck = Checker(path).run()
        s = ck.summary()
        worst = max(worst, 2 if s["REPAIR"] else 1 if s["MAYBE"] else 0)
        print(f"== {path}: REPAIR {s['REPAIR']}  MAYBE {s['MAYBE']}  COSMETIC {s['COSMETIC']}"
              f"  INFO {s['INFO']}   ({', '.join(f'{k} {v}' for k, v in sorted(ck.stats.items()))})")
        if getattr(ck, "vba_modules", None) is not None:
            print(f"   VBA modules: {', '.join(ck.vba_modules) or '(none found)'}")
        # group identical messages
        grouped = collections.OrderedDict()
        order = {"REPAIR": 0, "MAYBE": 1, "COSMETIC": 2, "INFO": 3}
        for f in sorted(ck.findings, key=lambda f: order[f["severity"]]):
            key = (f["severity"], f["check"], re.sub(r"'[^']*'!\$?[A-Z]+\$?\d+", "<cell>",
                                                      re.sub(r"\d+", "#", f["message"]))[:140])
            grouped.setdefault(key, []).append(f)
        for (sev, chk, _), fs in grouped.items():
            f = fs[0]
            more = f"  (+{len(fs) - 1} similar)" if len(fs) > 1 else ""
            print(f"   [{sev}] {chk} {f['part']}: {f['message']}{more}")
            if f["snippet"]:
                print(f"        xml: {f['snippet'][:300]}")
        for fn, n in ck.functions.items():
            fn_total[fn] += n
            fn_files[fn].add(path)
            fn_ctx[fn] |= ck.fn_where[fn]
        allres.append({"file": path, "summary": dict(s), "stats": dict(ck.stats),
                       "findings": ck.findings, "functions": dict(ck.functions),
                       "vba_modules": getattr(ck, "vba_modules", None)})
    if args.functions:
        print("\n== functions used (stored name, uses, files, contexts, note)")
        for fn, n in sorted(fn_total.items()):
            base = re.sub(r"^(_XLFN\.)?(_XLWS\.)?", "", fn)
            note = (f"Excel {FUTURE[base]}+ (needs _xlfn.)" if base in FUTURE else
                    "Excel 2007 built-in" if base in LEGACY else "UNKNOWN to Excel")
            print(f"   {fn:28s} {n:8d}  {len(fn_files[fn]):2d} files  "
                  f"{','.join(sorted(fn_ctx[fn])):12s} {note}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"files": allres, "functions": dict(fn_total)}, fh, indent=1)
    return worst


if __name__ == "__main__":
    sys.exit(main())
